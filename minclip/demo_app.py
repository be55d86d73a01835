"""The demo as an ipywidgets app: search a dataset with text, and classify an image zero-shot.

It only wires widgets to minclip.demo's functions, and writes every result into widget values (never ``print``
into an Output), so the same app works in Jupyter, under nbval and in Voila (``make app``). Every handler shows
a user's mistake in the status line and leaves the app working. Tests drive it without a browser::

    app = DemoApp()  # the scenes model on the scenes sample
    app.query.value = "two red sneakers"; app.on_search()
    app.preset.value = "colour"; app.on_pick_result(0)
    app.handle_upload(png_bytes)

One piece runs in the browser, ``upload_guard()`` (minclip.demo_view): a script that refuses a file over the upload
limit before it is sent (app/demo.ipynb displays it beside the app). Voila's own settings (localhost only, idle
kernels of closed pages shut down, the websocket's message limit) are in app/voila.json.
"""

from __future__ import annotations

import functools
import html
from pathlib import Path

import ipywidgets as W
from PIL import Image

from minclip import demo
from minclip.demo_view import THUMB, to_png, upload_guard

__all__ = ["THUMB", "DemoApp", "build_app", "to_png", "upload_guard"]

_TEMPLATE_CHOICES = [("the paper's 'a photo of a {}.'", "paper"),
                     (f"ensemble of {len(demo.PROMPT_SETS['ensemble'])} product-photo prompts", "ensemble"),
                     (f"ensemble of {len(demo.PROMPT_SETS['scenes'])} scene prompts", "scenes"), ("custom", "custom")]
_PRESET_CHOICES = [(name, name) for name in demo.CLASS_PRESETS] + [("your own list", "custom")]


def _guarded(method):
    """Run a handler; a DemoError (or anything else) becomes a message in the status line, and the app goes on."""

    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        try:
            return method(self, *args, **kwargs)
        except demo.DemoError as err:
            self.show_error(str(err))
        except Exception as err:  # noqa: BLE001 (a demo must survive; the message names the failure)
            self.show_error(f"unexpected error: {type(err).__name__}: {err}")
        return None

    return wrapper


class DemoApp:
    """The widgets and their handlers. ``widget`` is the top-level box to display (build_app returns it)."""

    def __init__(self, model: str = demo.DEFAULT_MODEL, dataset: str = demo.DEFAULT_DATASET, k: int = 8,
                 cache_dir: str | Path | None = None, max_upload_bytes: int = demo.MAX_UPLOAD_BYTES):
        self.k, self.max_upload_bytes = k, max_upload_bytes
        self.cache_dir = demo.default_cache_dir() if cache_dir is None else cache_dir
        self.model: demo.DemoModel | None = None
        self.dataset: demo.DemoDataset | None = None
        self.index: demo.SearchIndex | None = None
        self.results: list[demo.Hit] = []
        self.predictions: list[demo.Prediction] = []
        self.status = W.HTML().add_class("minclip-status")
        self.progress = W.FloatProgress(min=0.0, max=1.0, description="index", layout=W.Layout(width="320px"))
        # model and dataset
        self.model_box = W.Combobox(value=model, options=demo.available_models(), description="model",
                                    placeholder="a model name, a checkpoint path or a hub id", ensure_option=False)
        self.dataset_box = W.Combobox(value=dataset, options=demo.available_datasets(), description="dataset",
                                      placeholder="a built-in name, a folder or a CSV path", ensure_option=False)
        self.dataset_box.add_class("minclip-dataset")
        self.load_button = W.Button(description="load", tooltip="load the model and dataset, index the images")
        self.load_button.add_class("minclip-load")
        self.load_button.on_click(lambda _: self.on_load())
        # text search
        self.query = W.Text(placeholder="describe what to find, e.g. a pair of trousers", description="search",
                            continuous_update=False, layout=W.Layout(width="420px")).add_class("minclip-query")
        self.query.observe(lambda change: self.on_search(), names="value")  # Enter; blank text gets a message
        self.search_button = W.Button(description="search", button_style="primary").add_class("minclip-search")
        self.search_button.on_click(lambda _: self.on_search())
        self.thumbs = [W.Image(format="png", width=THUMB, height=THUMB) for _ in range(k)]
        self.captions = [W.Label(layout=W.Layout(width=f"{THUMB + 26}px")) for _ in range(k)]  # long: ellipsis
        self.pick_buttons = [W.Button(description="classify", layout=W.Layout(width=f"{THUMB}px")) for _ in range(k)]
        for slot, button in enumerate(self.pick_buttons):
            button.on_click(lambda _, slot=slot: self.on_pick_result(slot))
        cells = [W.VBox([t, c, b], layout=W.Layout(display="none"))
                 for t, c, b in zip(self.thumbs, self.captions, self.pick_buttons)]
        self.gallery = W.HBox(cells, layout=W.Layout(flex_flow="row wrap")).add_class("minclip-gallery")
        # zero-shot classification
        self.upload = W.FileUpload(accept="image/*", multiple=False, description="upload an image")
        self.upload.observe(self._on_upload_change, names="value")
        self.item = W.BoundedIntText(value=0, min=0, max=0, description="item #", layout=W.Layout(width="180px"))
        self.item_button = W.Button(description="classify item")
        self.item_button.on_click(lambda _: self.on_pick_item())
        self.preview = W.Image(format="png", width=2 * THUMB, height=2 * THUMB, layout=W.Layout(visibility="hidden"))
        self.preview.add_class("minclip-preview")
        self.classnames = W.Textarea(value="\n".join(demo.CLASSNAMES), description="classes",
                                     layout=W.Layout(height="190px", width="260px")).add_class("minclip-classes")
        self.preset = W.Dropdown(options=_PRESET_CHOICES, value="fashion-mnist labels", description="preset",
                                 tooltip="the zero-shot task suite's class lists").add_class("minclip-preset")
        self.preset.observe(lambda change: self.on_preset(), names="value")
        self.classnames.observe(lambda change: self._classes_edited(), names="value")
        self.template_choice = W.Dropdown(options=_TEMPLATE_CHOICES, value="paper", description="prompts")
        self.template_choice.add_class("minclip-prompts")
        self.custom_templates = W.Textarea(value="a photo of a {}.\na picture of a {}.", description="custom",
                                           layout=W.Layout(height="80px", width="320px"))
        self.prompt_line = W.Label().add_class("minclip-prompt")  # what the model reads for the first class
        for box in (self.template_choice, self.custom_templates):
            box.observe(lambda change: self._show_prompt(), names="value")
        self.reclassify_button = W.Button(description="classify again", tooltip="after editing classes or prompts")
        self.reclassify_button.on_click(lambda _: self.on_classify())
        self.bar_labels = [W.Label(layout=W.Layout(width="120px")) for _ in range(5)]
        self.bars = [W.FloatProgress(min=0.0, max=1.0) for _ in range(5)]
        self.bar_values = [W.Label() for _ in range(5)]
        self.chart = W.VBox([W.HBox([n, b, v]) for n, b, v in zip(self.bar_labels, self.bars, self.bar_values)])
        self.chart.add_class("minclip-chart")
        self.image = None  # the image being classified: PIL, or a model input tensor (3, R, R)
        self._show_prompt()
        self.widget = W.VBox([
            W.HTML("<h3>minclip: search images with text, classify an image zero-shot</h3>"),
            W.HBox([self.model_box, self.dataset_box, self.load_button]), W.HBox([self.progress]), self.status,
            W.HBox([self.query, self.search_button]), self.gallery,
            W.HTML("<b>Zero-shot classification</b>: upload an image, or pick an item of the dataset"),
            W.HBox([self.upload, self.item, self.item_button]),
            W.HBox([self.preview, W.VBox([self.template_choice, self.custom_templates, self.prompt_line,
                                          self.reclassify_button]), W.VBox([self.preset, self.classnames])]),
            self.chart,
        ])
        self.on_load()

    # ------------------------------------------------------------------------------------------------------
    # status

    def show_error(self, message: str) -> None:
        self.status.value = f"<span style='color:#b00020' class='minclip-error'>{html.escape(message)}</span>"

    def show_info(self, message: str) -> None:
        self.status.value = f"<span class='minclip-info'>{html.escape(message)}</span>"

    # ------------------------------------------------------------------------------------------------------
    # handlers

    @_guarded
    def on_load(self) -> None:
        """(Re)load the model and the dataset named in their boxes, then build or read the index. On an error the
        previous model, dataset and index stay in use."""
        name, source = self.model_box.value.strip(), self.dataset_box.value.strip()
        model = self.model
        if model is None or name != model.name:
            self.show_info(f"loading model {name} ...")
            model = demo.load_model(name, progress=functools.partial(self._download_progress, name))
        dataset = self.dataset if self.dataset is not None and source == self.dataset.name else \
            demo.load_dataset(source)
        index = self.index
        if index is None or index.dataset is not dataset or index.model_fingerprint != model.fingerprint:
            self.show_info(f"indexing {len(dataset):,} images of {dataset.name} ...")
            index = demo.build_index(model, dataset, progress=self._progress, cache_dir=self.cache_dir)
        if dataset is not self.dataset:
            self.item.max = len(dataset) - 1
            if dataset.classnames:
                self.classnames.value = "\n".join(dataset.classnames)
            self.results = []
            for cell in self.gallery.children:
                cell.layout.display = "none"
        if model is not self.model and not isinstance(self.image, Image.Image):
            self.image = None  # a model input made for the previous model may not fit this one
        self.model, self.dataset, self.index = model, dataset, index
        self.progress.value = 1.0
        how = "read from the cache" if index.from_cache else "built"
        self.show_info(f"ready: {len(dataset):,} images of {dataset.name} indexed ({how}) with {model.name}")

    def _progress(self, done: int, total: int) -> None:
        self.progress.description, self.progress.value = "index", done / total

    def _download_progress(self, name: str, done: int, total: int | None) -> None:
        """Called by the download of a released model (OpenAI's weights, once) after every chunk."""
        self.progress.description, self.progress.value = "download", done / total if total else 0.0
        self.show_info(f"downloading {name}: {done / 2**20:.0f} of {(total or 0) / 2**20:.0f} MiB")

    @_guarded
    def on_search(self) -> None:
        """Search the index for the text in ``query`` and fill the gallery."""
        if self.index is None or self.model is None:
            raise demo.DemoError("no index yet: load a model and a dataset first")
        self.results = demo.search(self.index, self.model, self.query.value, k=self.k)
        for slot, cell in enumerate(self.gallery.children):
            if slot < len(self.results):
                hit = self.results[slot]
                self.thumbs[slot].value = to_png(self.dataset.image(hit.index))
                text = f"{hit.score:.3f} {self.dataset.describe(hit.index)}"
                self.captions[slot].value = self.captions[slot].tooltip = text
                cell.layout.display = "flex"
            else:
                cell.layout.display = "none"
        note = " (the query was cut to the model's context length)" if self.results.truncated else ""
        self.show_info(f"{len(self.results)} best matches for {self.query.value.strip()!r} by cosine similarity"
                       f"{note}")

    def _on_upload_change(self, change) -> None:
        files = change["new"]
        if files:
            self.handle_upload(bytes(files[0]["content"]), name=files[0].get("name", ""))
            self.upload.value = ()  # so the same file can be chosen again (this change is ignored above)

    @_guarded
    def handle_upload(self, data: bytes, name: str = "") -> None:
        """Classify uploaded bytes; a file that is not a usable image shows why in the status line."""
        try:
            image = demo.read_upload(data, max_bytes=self.max_upload_bytes)
        except demo.DemoError as err:
            raise demo.DemoError(f"{name or 'upload'}: {err}") from None
        self._classify(image, name or "the uploaded image")

    @_guarded
    def on_pick_item(self) -> None:
        """Classify item ``item.value`` of the dataset."""
        self._classify_item(int(self.item.value))

    @_guarded
    def on_pick_result(self, slot: int) -> None:
        """Classify the gallery's result number ``slot``."""
        self.item.value = self.results[slot].index
        self._classify_item(self.results[slot].index)

    @_guarded
    def on_classify(self) -> None:
        """Classify the current image again (after the class names or templates changed)."""
        if self.image is None:
            raise demo.DemoError("upload an image or pick an item first")
        self._classify(self.image, "the image")

    @_guarded
    def on_preset(self) -> None:
        """Fill the class list with the chosen preset, and classify the current image again with it."""
        if self.preset.value != "custom" and demo.preset_of(self.classnames.value) != self.preset.value:
            self.classnames.value = "\n".join(demo.preset_classes(self.preset.value))
            if self.image is not None:
                self._classify(self.image, "the image")

    def _classes_edited(self) -> None:
        """The preset follows the list: the one it equals, else "your own list"."""
        self.preset.value = demo.preset_of(self.classnames.value) or "custom"
        self._show_prompt()

    def _show_prompt(self) -> None:
        names = [c for c in self.classnames.value.splitlines() if c.strip()]
        try:
            self.prompt_line.value = f"reads: {demo.prompts(names[0], self.templates()[:1])[0]}"
        except (IndexError, KeyError, ValueError):  # no class yet, or a custom template still being typed
            self.prompt_line.value = ""

    def templates(self) -> tuple[str, ...]:
        if self.template_choice.value == "custom":
            return tuple(self.custom_templates.value.splitlines())
        return demo.PROMPT_SETS[self.template_choice.value]

    def _classify_item(self, i: int) -> None:
        if self.dataset is None or not 0 <= i < len(self.dataset):
            raise demo.DemoError(f"item # must be between 0 and {len(self.dataset or []) - 1}")
        self.preview.value, self.preview.layout.visibility = to_png(self.dataset.image(i), 2 * THUMB), "visible"
        self._classify(self.dataset.model_input(i, self.model), f"item {i} ({self.dataset.describe(i)})")

    def _classify(self, image, what: str) -> None:
        if self.model is None:
            raise demo.DemoError("no model loaded: load one first")
        predictions = demo.classify(self.model, image, self.classnames.value.splitlines(), self.templates(), k=5)
        self.image, self.predictions = image, predictions
        if isinstance(image, Image.Image):
            self.preview.value, self.preview.layout.visibility = to_png(image, 2 * THUMB), "visible"
        for row in range(5):
            name, p = predictions[row] if row < len(predictions) else ("", 0.0)
            self.bar_labels[row].value, self.bars[row].value = name, p
            self.bar_values[row].value = f"{100 * p:.1f}%" if name else ""
        self.show_info(f"{what}: {predictions[0].classname} ({100 * predictions[0].probability:.1f}%)")


def build_app(**kwargs) -> W.VBox:
    """The app's top widget, ready to display (keyword arguments go to DemoApp)."""
    return DemoApp(**kwargs).widget
