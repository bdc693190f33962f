"""helm_release.<name>: a helm release of a `provider: helm` cluster (consul, vault, ...).

Ranked before the cluster's nodes: the Vault release makes the pods that
cluster.node[i] waits for, and init and unseal come after. The plan compares
chart, version, status and every value leaf (`values.server.ha.replicas`)
with `helm list` and `helm get values`; apply runs `helm upgrade --install`.
Releases are not recorded as managed objects (the spec's `cluster:` owns
them); `vaultform destroy --uninstall-releases` is the only way they are
uninstalled.
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional

from vaultform.errors import ClusterError, VaultformError
from vaultform.kinds.base import Kind, KindDoc
from vaultform.model import ABSENT, DELETE, Change, FieldChange, Plan, Resource

VALUES = "values"
DEPLOYED = "deployed"


def flatten(values: Any, prefix: str = VALUES) -> Dict[str, Any]:
    """{"server": {"ha": {"replicas": 3}}} -> {"values.server.ha.replicas": 3}.
    Lists and empty maps are leaves: helm replaces them whole."""
    if isinstance(values, dict) and values:
        out: Dict[str, Any] = {}
        for key, value in values.items():
            out.update(flatten(value, f"{prefix}.{key}"))
        return out
    return {prefix: values}


def _split_chart(listed: str, name: str) -> "tuple[str, str]":
    """helm list's "vault-0.28.1" -> ("vault", "0.28.1"); names and versions may hold dashes."""
    if listed.startswith(name + "-"):
        return name, listed[len(name) + 1:]
    head, _, tail = listed.rpartition("-")
    while head and not tail[:1].isdigit():
        head, _, rest = head.rpartition("-")
        tail = f"{rest}-{tail}"
    return (head, tail) if head else (listed, "")


def _helm_cluster(ctx):
    return ctx.cluster if ctx.cluster is not None and ctx.cluster.provider == "helm" else None


class HelmRelease(Kind):
    name = "helm_release"
    doc = KindDoc("cluster.releases.<name> (provider helm)", "(helm upgrade --install)",
                  "a helm release that installs the cluster into Kubernetes",
                  address="helm_release.<name>")
    rank = 0
    recorded = False

    def resources(self, spec, ctx) -> List[Resource]:
        cluster = _helm_cluster(ctx)
        if cluster is None:
            return []
        out = []
        for release in cluster.releases:
            desired: Dict[str, Any] = {"chart": release.chart_name}
            if release.version:
                desired["version"] = release.version
            desired["status"] = DEPLOYED
            if release.values:
                desired.update(flatten(release.values))
            out.append(Resource(kind=self, address=f"{self.name}.{release.name}", id=release.name,
                                desired=desired, location=release.location,
                                meta={"release": release, "position": release.position}))
        return out

    def read(self, ctx, res) -> Optional[dict]:
        try:
            return self._read(ctx, res)
        except ClusterError as exc:
            raise ClusterError(exc.message, address=res.address) from None

    def _read(self, ctx, res) -> Optional[dict]:
        cluster = ctx.cluster
        listed = ctx.cached("helm-list", cluster.helm.list_releases).get(res.id)
        if listed is None or listed.get("status") == "uninstalled":
            return None
        chart, version = _split_chart(str(listed.get("chart", "")), res.desired["chart"])
        live = {"chart": chart, "version": version, "status": listed.get("status", "")}
        values = cluster.helm.get_values(res.id)
        if values:
            live.update(flatten(values))
        return live

    def diff(self, ctx, res, live) -> List[FieldChange]:
        changes = super().diff(ctx, res, live)
        # A value set in the release but no longer in the spec goes away on
        # upgrade (vaultform passes exactly the spec's values).
        for name in sorted(live):
            if name.startswith(VALUES) and name not in res.desired:
                changes.append(FieldChange(name, live[name], ABSENT))
        return changes

    def change_reason(self, change) -> str:
        if change.action == "create":
            return "not installed"
        status = next((f.before for f in change.fields if f.name == "status"), None)
        if status not in (None, DEPLOYED):
            return f"release is {status}"
        return "changed in the spec or differs in the cluster"

    def create(self, ctx, res) -> None:
        ctx.cluster.helm.upgrade_install(res.meta["release"])
        self._forget(ctx)

    def update(self, ctx, res, live, changes) -> None:
        self.create(ctx, res)

    def delete(self, ctx, res) -> None:
        if ctx.api is not None and ctx.api.has_token and ctx.record.dirty and res.meta.get("first_uninstall"):
            # Objects deleted before this change are gone from the record too;
            # the storage outlives the release (its volume claims are kept).
            try:
                ctx.record.save(ctx.api, ctx.secret_mounts())
            except VaultformError:
                pass  # the objects are deleted all the same; a stale record entry reads as "gone"
        ctx.cluster.helm.uninstall(res.id)
        self._forget(ctx)

    @staticmethod
    def _forget(ctx) -> None:
        ctx.forget("helm-list")
        ctx.forget("cluster-status")
        ctx.forget("raft-servers")

    def destroy_notes(self, ctx, res) -> List[str]:
        release = res.meta["release"]
        ns = ctx.cluster.namespace
        notes = [f"uninstalls {release.name} from namespace {ns}: its pods, services and config go; "
                 f"the PersistentVolumeClaims its StatefulSets made are kept by helm, and with them all the "
                 f"data they hold"]
        if release.name == ctx.cluster.vault_release_name:
            notes.append(f"Vault's storage (raft data, or whatever its storage backend holds) stays in them; "
                         f"delete them with `kubectl -n {ns} delete pvc -l app.kubernetes.io/instance={release.name}` "
                         f"to destroy it")
        else:
            notes.append(f"delete them with `kubectl -n {ns} delete pvc -l app.kubernetes.io/instance={release.name}` "
                         f"to destroy that data (for consul: Vault's storage, when Vault keeps it there)")
        return notes


KINDS = [HelmRelease()]


def plan_destroy(ctx, uninstall_releases: bool, destroy_objects) -> Plan:
    """`vaultform destroy` for a helm cluster: the managed Vault objects, then,
    with --uninstall-releases only, the releases (the spec's last first).

    `destroy_objects(ctx) -> Plan` is the planner's destroy of Vault objects."""
    cluster = ctx.cluster
    has_active = ctx.follow_active_node()
    warnings = []
    if has_active:
        plan = destroy_objects(ctx)
    elif uninstall_releases:
        plan = Plan(destroy=True)
        warnings.append("no unsealed Vault pod to delete the managed objects through: only the releases are "
                        "uninstalled, and the objects stay in Vault's storage (its kept volume claims)")
    else:
        raise ClusterError(f"no active Vault pod in namespace {cluster.namespace} to delete the managed objects "
                           "through: run `vaultform apply` to unseal it first (or pass --uninstall-releases "
                           "to uninstall the releases)")
    if not uninstall_releases:
        names = ", ".join(f"{HelmRelease.name}.{r.name}" for r in cluster.releases)
        warnings.append(f"the helm releases stay installed ({names}); pass --uninstall-releases to uninstall them")
        plan.warnings.extend(warnings)
        return plan
    kind = KINDS[0]
    installed = ctx.cached("helm-list", cluster.helm.list_releases)
    releases = [r for r in kind.resources(ctx.spec, ctx) if r.id in installed]
    for position, res in enumerate(sorted(releases, key=lambda r: -r.meta["position"])):
        res.meta["first_uninstall"] = position == 0
        change = Change(DELETE, res, reason="destroy --uninstall-releases")
        change.notes.extend(kind.destroy_notes(ctx, res))
        plan.changes.append(change)
    if releases:
        store = cluster.keys
        warnings.append(f"the unseal keys stay in {store.description}: the kept volumes need them if the "
                        "releases are installed again")
    plan.warnings.extend(warnings)
    return plan
