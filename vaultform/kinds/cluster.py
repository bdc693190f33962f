"""cluster.node[i], cluster.init, cluster.unseal[i]: the cluster itself.

They sit at the front of the same graph as mounts and policies, so one plan
shows "start node0, initialise, unseal node0, then enable secret/...".
They are not recorded as managed objects: the spec's `cluster:` owns them.
The provider (local processes or helm-installed pods) says what a node is;
with helm, the releases (helm_release, rank 0) come before the nodes.
"""

from __future__ import annotations

from typing import List, Optional

from vaultform.errors import ClusterError
from vaultform.kinds.base import Kind, KindDoc
from vaultform.model import FOLLOW_UP, Resource


def _statuses(ctx):
    return ctx.cached("cluster-status", ctx.cluster.statuses)


def _cluster_token(ctx) -> Optional[str]:
    """A token to read raft membership with: the run's own, else the one every
    command picks (connection.resolve_token); None when none is at hand."""
    if ctx.api is not None and ctx.api.client.token:
        return ctx.api.client.token
    try:
        return ctx.token()[0]
    except ClusterError:
        return None


def _raft_servers(ctx):
    if len(ctx.cluster.nodes) < 2:
        return None
    return ctx.cached("raft-servers", lambda: ctx.cluster.raft_servers(_cluster_token(ctx)))


class ClusterNode(Kind):
    name = "cluster.node"
    rank = 1
    recorded = False
    section = "cluster"
    section_keys_are_names = False
    section_schema = {"$ref": "cluster.schema.json"}
    doc = KindDoc("cluster.nodes", "(a process or a pod)",
                  "one node of the cluster vaultform runs (local provider) or installs (helm provider)",
                  address="cluster.node[<i>]")

    def summary(self, spec):
        cluster = spec.cluster
        return f"a {cluster.get('provider', 'local')} cluster" if cluster else None

    def resources(self, spec, ctx) -> List[Resource]:
        if ctx.cluster is None:
            return []
        return [Resource(kind=self, address=f"cluster.node[{n.index}]", id=str(n.index),
                         desired={"running": True, **n.identity},
                         location=spec.key_loc("cluster"), meta={"index": n.index})
                for n in ctx.cluster.nodes]

    def read(self, ctx, res) -> Optional[dict]:
        st = _statuses(ctx)[res.meta["index"]]
        node = ctx.cluster.nodes[res.meta["index"]]
        if not st.running and not node.has_data:
            others = [n for n in ctx.cluster.nodes if n is not node and n.has_data]
            res.meta["reason"] = ("new node: joins the existing raft cluster as a voter once unsealed"
                                  if others else node.absent_reason)
            return None
        live = {"running": st.running and st.reachable, **node.identity}
        servers = _raft_servers(ctx) if st.reachable and st.sealed is False else None
        if servers and node.name not in servers:
            live["in_raft"] = False
            res.meta["reason"] = ctx.cluster.REJOIN_REASON
        return live

    def diff(self, ctx, res, live):
        changes = super().diff(ctx, res, live)
        if live.get("in_raft") is False:
            from vaultform.model import FieldChange
            changes.append(FieldChange("in_raft", False, True))
        return changes

    def change_reason(self, change) -> str:
        return change.resource.meta.get("reason", "not running")

    def create(self, ctx, res) -> None:
        ctx.cluster.nodes[res.meta["index"]].start()
        ctx.forget("cluster-status")

    def update(self, ctx, res, live, changes) -> None:
        node = ctx.cluster.nodes[res.meta["index"]]
        if live.get("in_raft") is False:
            # A node removed from raft cannot rejoin with its old data.
            ctx.cluster.rejoin(res.meta["index"])
        else:
            node.start()
        ctx.forget("cluster-status")
        ctx.forget("raft-servers")

    def removed(self, ctx) -> List[Resource]:
        """Nodes the spec no longer counts: they leave raft, stop, lose their data."""
        out = []
        for node in ctx.cluster.removed_nodes():
            res = Resource(kind=self, address=f"cluster.node[{node.index}]", id=str(node.index),
                           meta={"index": node.index, "node": node, "leave_raft": True})
            out.append(res)
        return out

    def delete(self, ctx, res) -> None:
        node = res.meta.get("node") or ctx.cluster.nodes[res.meta["index"]]
        if res.meta.get("leave_raft") and node.status().reachable:
            ctx.cluster.leave_raft(node, _cluster_token(ctx))
        node.stop()
        if res.meta.get("remove_data", True):
            import shutil
            shutil.rmtree(node.dir, ignore_errors=True)
        if res.meta["index"] == 0:
            ctx.cluster.keys.delete()
        ctx.cluster.remove_empty_dirs()


class ClusterInit(Kind):
    name = "cluster.init"
    doc = KindDoc("cluster.init", "sys/init",
                  "operator init with Shamir key shares; the keys go to keys_file or to PGP custodians",
                  address="cluster.init")
    rank = 2
    recorded = False

    def resources(self, spec, ctx) -> List[Resource]:
        if ctx.cluster is None:
            return []
        c = ctx.cluster
        return [Resource(kind=self, address="cluster.init", id="init",
                         desired={"initialized": True, "key_shares": c.key_shares,
                                  "key_threshold": c.key_threshold, **c.keys.plan_field()},
                         location=spec.key_loc("cluster", "init") if "init" in spec.cluster else spec.key_loc("cluster"),
                         depends_on=["cluster.node[0]"], meta={"custody": c.custody})]

    def read(self, ctx, res) -> Optional[dict]:
        statuses = _statuses(ctx)
        known = [s.initialized for s in statuses if s.reachable]
        if known:
            initialized = any(known)
        else:
            # No node answers. Raft files appear at first start, before init,
            # so data alone does not prove an init; a keys file next to it does
            # (init writes it). Data without keys is re-checked at apply time.
            initialized = ctx.cluster.has_data() and ctx.cluster.keys.exists()
            if not initialized and ctx.cluster.STORAGE_OUTLIVES_NODES and ctx.cluster.keys.exists():
                # Reinstalled releases find their old volumes: apply sees, once
                # the pods answer, whether there is anything left to initialise.
                res.meta["reason"] = "not initialised, unless the pods find data in their kept volumes"
        if not initialized:
            return None
        # Shares and threshold cannot be read back without a key; what init did is what stands.
        return dict(res.desired)

    def change_reason(self, change) -> str:
        return change.resource.meta.get("reason", "not initialised")

    def create(self, ctx, res) -> None:
        node = ctx.cluster.nodes[0]
        if (node.seal_status() or {}).get("initialized"):
            if ctx.cluster.keys.exists():
                # Initialised before: its storage outlived the servers (kept
                # volume claims), and its keys are at hand. Nothing new to store.
                res.meta["kept_keys"] = True
                return
            raise ClusterError(f"{node.name} is already initialised, but there is "
                               f"{ctx.cluster.keys.missing} to unseal it with")
        ctx.cluster.initialize()
        ctx.forget("cluster-status")
        ctx.initialized_now = True


class ClusterUnseal(Kind):
    name = "cluster.unseal"
    doc = KindDoc("cluster.init.key_threshold", "sys/unseal", "unsealing every node with the stored key shares",
                  address="cluster.unseal[<i>]")
    rank = 3
    recorded = False

    def resources(self, spec, ctx) -> List[Resource]:
        if ctx.cluster is None:
            return []
        return [Resource(kind=self, address=f"cluster.unseal[{n.index}]", id=str(n.index),
                         desired={"sealed": False}, location=spec.key_loc("cluster"),
                         depends_on=["cluster.init", f"cluster.node[{n.index}]"],
                         meta={"index": n.index, "custody": ctx.cluster.custody})
                for n in ctx.cluster.nodes]

    def change_reason(self, change) -> str:
        if change.resource.meta.get("custody"):
            return "sealed; custodians enter their shares with `vaultform unseal`"
        return "sealed"

    def read(self, ctx, res) -> Optional[dict]:
        st = _statuses(ctx)[res.meta["index"]]
        return {"sealed": True if st.sealed is None else st.sealed}

    def create(self, ctx, res) -> None:
        self.update(ctx, res, {}, [])

    def update(self, ctx, res, live, changes) -> None:
        index = res.meta["index"]
        ctx.cluster.unseal(index)
        ctx.forget("cluster-status")
        last = "wait_for_voters" in res.meta  # the plan's last unseal (planner.plan_cluster)
        active = ctx.cluster.active_node()
        if active is None and not last:
            # A raft cluster restarted as a whole elects a leader only once a
            # quorum is unsealed; a node that has yet to join waits for one
            # in join(). Only the last unseal must see an active node.
            return
        # Configuration is written through the active node: make sure there
        # is one before going on (the first node unsealed becomes it).
        active = active or ctx.cluster.wait_active()
        token = _cluster_token(ctx)
        if len(ctx.cluster.nodes) > 1 and token:
            ctx.cached("autopilot-tuned", lambda: ctx.cluster.tune_autopilot(token) or True)
            waiting = res.meta.get("wait_for_voters", [])
            if waiting:
                # Its own step (executor.FOLLOW_UP): the unseal's time is the unseal's.
                names = ", ".join(ctx.cluster.nodes[i].name for i in waiting)
                word = "raft voter" if ctx.cluster.WAIT_FOR_VOTERS else "raft member"
                word = f"a {word}" if len(waiting) == 1 else f"{word}s"

                def wait() -> None:
                    for other in waiting:
                        ctx.cluster.wait_voter(other, token)
                    ctx.forget("raft-servers")

                res.meta[FOLLOW_UP] = (f"waiting for {names} to be {word}", wait)
        ctx.forget("raft-servers")


KINDS = [ClusterNode(), ClusterInit(), ClusterUnseal()]
