"""cluster.node[i], cluster.init, cluster.unseal[i]: the local cluster itself.

They sit at the front of the same graph as mounts and policies, so one plan
shows "start node0, initialise, unseal node0, then enable secret/...".
They are not recorded as managed objects: the spec's `cluster:` owns them.
"""

from __future__ import annotations

from typing import List, Optional

from vaultform.errors import ClusterError
from vaultform.kinds.base import Kind
from vaultform.model import Resource


def _statuses(ctx):
    return ctx.cached("cluster-status", ctx.cluster.statuses)


class ClusterNode(Kind):
    name = "cluster.node"
    rank = 0
    recorded = False

    def resources(self, spec, ctx) -> List[Resource]:
        if ctx.cluster is None:
            return []
        return [Resource(kind=self, address=f"cluster.node[{n.index}]", id=str(n.index),
                         desired={"running": True, "address": n.address},
                         location=spec.key_loc("cluster"), meta={"index": n.index})
                for n in ctx.cluster.nodes]

    def read(self, ctx, res) -> Optional[dict]:
        st = _statuses(ctx)[res.meta["index"]]
        node = ctx.cluster.nodes[res.meta["index"]]
        if not st.running and not node.has_data:
            return None
        return {"running": st.running and st.reachable, "address": node.address}

    def change_reason(self, change) -> str:
        return "not running"

    def create(self, ctx, res) -> None:
        ctx.cluster.nodes[res.meta["index"]].start()
        ctx.forget("cluster-status")

    def delete(self, ctx, res) -> None:
        node = ctx.cluster.nodes[res.meta["index"]]
        node.stop()
        if res.meta.get("remove_data", True):
            import shutil
            shutil.rmtree(node.dir, ignore_errors=True)
        if res.meta["index"] == 0:
            ctx.cluster.keys_file.unlink(missing_ok=True)
        ctx.cluster.remove_empty_dirs()


class ClusterInit(Kind):
    name = "cluster.init"
    rank = 1
    recorded = False

    def resources(self, spec, ctx) -> List[Resource]:
        if ctx.cluster is None:
            return []
        c = ctx.cluster
        return [Resource(kind=self, address="cluster.init", id="init",
                         desired={"initialized": True, "key_shares": c.key_shares,
                                  "key_threshold": c.key_threshold, "keys_file": str(c.keys_file)},
                         location=spec.key_loc("cluster", "init") if "init" in spec.cluster else spec.key_loc("cluster"),
                         depends_on=["cluster.node[0]"])]

    def read(self, ctx, res) -> Optional[dict]:
        statuses = _statuses(ctx)
        known = [s.initialized for s in statuses if s.reachable]
        if known:
            initialized = any(known)
        else:
            # No node answers. Raft files appear at first start, before init,
            # so data alone does not prove an init; a keys file next to it does
            # (init writes it). Data without keys is re-checked at apply time.
            initialized = ctx.cluster.has_data() and ctx.cluster.keys_file.exists()
        if not initialized:
            return None
        # Shares and threshold cannot be read back without a key; what init did is what stands.
        return dict(res.desired)

    def change_reason(self, change) -> str:
        return "not initialised"

    def create(self, ctx, res) -> None:
        node = ctx.cluster.nodes[0]
        if (node.seal_status() or {}).get("initialized"):
            raise ClusterError(f"{node.name} is already initialised, but there is no keys file at "
                               f"{ctx.cluster.keys_file} to unseal it with")
        ctx.cluster.initialize()
        ctx.forget("cluster-status")
        ctx.initialized_now = True


class ClusterUnseal(Kind):
    name = "cluster.unseal"
    rank = 2
    recorded = False

    def resources(self, spec, ctx) -> List[Resource]:
        if ctx.cluster is None:
            return []
        return [Resource(kind=self, address=f"cluster.unseal[{n.index}]", id=str(n.index),
                         desired={"sealed": False}, location=spec.key_loc("cluster"),
                         depends_on=["cluster.init", f"cluster.node[{n.index}]"], meta={"index": n.index})
                for n in ctx.cluster.nodes]

    def change_reason(self, change) -> str:
        return "sealed"

    def read(self, ctx, res) -> Optional[dict]:
        st = _statuses(ctx)[res.meta["index"]]
        return {"sealed": True if st.sealed is None else st.sealed}

    def create(self, ctx, res) -> None:
        self.update(ctx, res, {}, [])

    def update(self, ctx, res, live, changes) -> None:
        ctx.cluster.unseal(res.meta["index"])
        ctx.forget("cluster-status")


KINDS = [ClusterNode(), ClusterInit(), ClusterUnseal()]
