"""The drawing page: draw a digit in a browser and watch the network decide (the ``serve`` extra).

:func:`create_app` builds the Flask app around a model; :func:`serve`
runs it until Ctrl-C. The page posts the canvas as a PNG; the Python
model answers through the same preprocessing as ``funcnet predict
--images`` (:mod:`funcnet.digitize`).
"""

from .app import (DECODERS, MAX_BODY, create_app, exposure, host_allowed, look, machine_names,
                  serve, shown_name)

__all__ = ["DECODERS", "MAX_BODY", "create_app", "exposure", "host_allowed", "look",
           "machine_names", "serve", "shown_name"]
