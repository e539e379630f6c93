"""xlt Space entry point: `python app.py` serves the Gradio app on the offline default.

The app is a thin view over the `xlt` library; every callback lives in `xlt.app` as a
plain function that can be called and tested without a browser.
"""

from __future__ import annotations

import logging
import os


def main() -> None:
    from xlt.access import sign_in_required
    from xlt.app.queue_limits import configure_queue
    from xlt.app.ui import APP_CSS, build_app

    server_name = os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1")
    if server_name not in ("127.0.0.1", "localhost", "::1") and not sign_in_required():
        # off a Space nobody signs in: whoever reaches the port may train, and push with HF_TOKEN
        logging.getLogger("xlt").warning(
            "serving on %s with no sign-in: anyone who reaches this port can launch training and push results; "
            "set XLT_OAUTH=1 (and XLT_SPACE_OWNER) to apply the public Space's rules", server_name)
    demo = build_app(warm=True)  # the default predictors load (and export to ONNX once) while the page opens
    configure_queue(demo)  # Gradio's queue, with a cap on each visitor's waiting events
    demo.launch(server_name=server_name,
                server_port=int(os.environ.get("GRADIO_SERVER_PORT", "7860")), max_file_size="2mb",
                css=APP_CSS)


if __name__ == "__main__":
    main()
