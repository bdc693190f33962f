"""Cluster providers: `local` (OpenBao processes on this machine) and `helm`
(Vault installed by helm into Kubernetes). Both share base.py's init, unseal
and raft join."""

from __future__ import annotations


def cluster_for(spec):
    """The spec's cluster, or None when it configures a Vault it does not run."""
    cluster = spec.cluster
    if not cluster:
        return None
    if cluster.get("provider") == "helm":
        # Imported here: only a helm spec loads the kubernetes client.
        from vaultform.cluster.helm_provider import HelmCluster

        return HelmCluster(spec)
    from vaultform.cluster.local import LocalCluster

    return LocalCluster(spec)
