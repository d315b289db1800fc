"""HTTP feature serving: ``streamfeat serve`` (:mod:`streamfeat.serving.cli`).

* :mod:`~streamfeat.serving.service` — what each route answers (``FeatureService``);
* :mod:`~streamfeat.serving.server` — the HTTP/1.1 transport (``FeatureServer``);
* :mod:`~streamfeat.serving.client` — the Python client (``Client``, also ``streamfeat.Client``);
* :mod:`~streamfeat.serving.metrics`, :mod:`~streamfeat.serving.openapi` — ``/metrics``, ``/openapi.json``.

Nothing is imported here: every ``streamfeat`` command imports :mod:`streamfeat.serving.cli`,
which must stay light.
"""
