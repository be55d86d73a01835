"""What the demo app puts in the browser besides widgets: PNG thumbnails, and a script that guards uploads.

minclip.demo_app uses both and re-exports them; app/demo.ipynb displays ``upload_guard()`` beside the app.
"""

from __future__ import annotations

import io

from PIL import Image

from minclip.demo_data import MAX_UPLOAD_BYTES

THUMB = 84  # gallery thumbnails, pixels


def to_png(image: Image.Image, size: int = THUMB) -> bytes:
    """A square PNG thumbnail; small images are enlarged with nearest-neighbour so pixels stay sharp."""
    image = image.copy()
    resample = Image.Resampling.NEAREST if max(image.size) < size else Image.Resampling.BICUBIC
    scale = size / max(image.size)
    image = image.resize((max(1, round(image.width * scale)), max(1, round(image.height * scale))), resample)
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return buf.getvalue()


_UPLOAD_GUARD = """<script>
(() => {
  // minclip: refuse a file over the upload limit in the browser, before its bytes are sent to the kernel
  const limit = %d, mib = (n) => (n / 1048576).toFixed(1);
  const read = FileReader.prototype.readAsArrayBuffer;
  if (read.minclipGuard) return;
  const guarded = function (blob) {
    if (!(blob instanceof File) || blob.size <= limit) return read.call(this, blob);
    const status = document.querySelector(".minclip-status .widget-html-content");  // the view rewrites it later
    const span = document.createElement("span");
    span.className = "minclip-error";
    span.style.color = "#b00020";
    span.textContent = `${blob.name}: the file is ${mib(blob.size)} MiB, more than the ${mib(limit)} MiB allowed; ` +
      "resize or compress it first";
    if (status) status.replaceChildren(span);
    setTimeout(() => this.onabort && this.onabort(new ProgressEvent("abort")), 0);  // the upload stops here
  };
  guarded.minclipGuard = true;
  FileReader.prototype.readAsArrayBuffer = guarded;
})();
</script>"""


def upload_guard(max_bytes: int = MAX_UPLOAD_BYTES) -> str:
    """HTML with a script that checks an upload's size in the browser, before the file is sent: a file over
    ``max_bytes`` gets the app's message in the status line and is never read. (ipywidgets' FileUpload reads the
    file with a FileReader, then sends it over the kernel's websocket; a message over the websocket's limit would
    close it, silently.) Display it once, with ``IPython.display.HTML``, beside the app."""
    return _UPLOAD_GUARD % int(max_bytes)
