"""Test support: a real OpenBao dev server and a fake Kubernetes API.

- ``bao``: :class:`BaoDevServer`, :func:`bao_binary`, :func:`free_port`,
  :func:`wait_until`.
- ``kube``: :class:`FakeKubernetesAPI` (HTTPS TokenReview endpoint plus a
  service-account JWT issuer) for exercising the kubernetes auth method.
"""
