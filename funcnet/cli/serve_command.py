"""``funcnet serve MODEL``: the drawing page (the ``serve`` extra) on 127.0.0.1 until Ctrl-C."""

from __future__ import annotations

import click

from .. import digitize
from .. import report as freport
from ..errors import FuncnetError
from .exits import handle_errors
from .model_data import load_model, model_file


@click.command()
@click.argument("model_path", metavar="MODEL", type=click.Path())
@click.option("--host", default="127.0.0.1", show_default=True,
              help="The address to listen on (0.0.0.0 opens the page and the model to the "
                   "network, without a password).")
@click.option("--port", type=click.IntRange(0, 65535), default=8000, show_default=True,
              help="The port to listen on; 0 picks a free one.")
@handle_errors
def serve(model_path, host, port):
    """Serve a page to draw a digit on and watch MODEL decide as you draw.

    The page shows the ten class probabilities, the 28x28 image the network
    sees after preprocessing (as funcnet predict --images does it) and the
    first layer's activations (an ensemble's first member's). MODEL is a
    model.safetensors file, a run folder holding one, or an ensemble folder
    (funcnet ensemble --out). Stop with Ctrl-C.

    The page answers only requests addressed to this machine (an IP
    address, localhost or its host name) and names the model without its
    absolute path; with --host other than a loopback address it says that
    the page is reachable from the network.
    """
    params, info = load_model(model_path)  # refuses anything but a funcnet model, before serving
    digitize.field_side(digitize.input_shape(params))
    try:
        import flask  # noqa: F401
        import PIL  # noqa: F401
    except ImportError:
        raise FuncnetError("the drawing page needs Flask and Pillow: "
                           "pip install 'funcnet[serve]'") from None
    from ..web import create_app, exposure, machine_names
    from ..web import serve as run_server

    classes = freport.class_names(info["config"].get("dataset"))
    app = create_app(params, name=str(model_file(model_path)), classes=classes,
                     model_state=info["model_state"], hosts=machine_names(host))
    warning = exposure(host)
    if warning:
        click.echo(f"funcnet: warning: {warning}", err=True)
    run_server(app, host, port, echo=click.echo)
