// minclip: make the ipywidgets embed manager (embed-amd.js) find everything in this folder, never on a CDN.
// Load after require.js and before embed-amd.js (nb_ipywidgets_js in _config.yml keeps that order).
//
// embed-amd.js defines its modules by name (@jupyter-widgets/base, .../controls, .../html-manager, ...), and
// RequireJS gives each a URL made from that name, relative to the page: webpack then looks for the Font Awesome
// fonts of the widget CSS next to that URL (book/@jupyter-widgets/...), where there are none. Mapping the names
// onto this folder puts the fonts where they are looked for. A widget package that embed-amd.js does not bundle
// is first looked for here under its name, then under the "CDN" set below: npm/ of this folder, so a missing
// package fails locally instead of being fetched from jsDelivr.
(function () {
  var here = new URL(".", document.currentScript.src).href; // .../widgets-js/ (query string dropped)
  var dir = here.replace(/\/$/, "");
  window.requirejs.config({ paths: { "@jupyter-widgets": dir, "@jupyter-widgets/html-manager/dist": dir } });
  // libembed-amd.js reads the CDN from the data-jupyter-widgets-cdn attribute of any script of the page.
  document.currentScript.setAttribute("data-jupyter-widgets-cdn", here + "npm/");
})();

// The embed manager typesets widget labels with MathJax 2's API, MathJax.Hub.Queue(["Typeset", Hub, el]), whenever
// window.MathJax exists; the book loads MathJax 3, which has no Hub, so on a page with maths and widgets every label
// threw. Give whatever object is window.MathJax (Sphinx's config object first, then MathJax 3 itself, which
// replaces it when it starts) a Hub whose Queue typesets the element with MathJax 3 once that is loaded.
(function () {
  var hub = {
    Queue: function (job) {
      var mj = window.MathJax, element = job && job[2];
      if (mj && typeof mj.typesetPromise === "function" && element) {
        mj.typesetPromise([element]).catch(function () {});
      }
    },
  };
  var current = window.MathJax;
  function withHub(value) {
    if (value && typeof value === "object" && !value.Hub) {
      Object.defineProperty(value, "Hub", { value: hub, enumerable: false, configurable: true });
    }
    return value;
  }
  Object.defineProperty(window, "MathJax", {
    configurable: true,
    enumerable: true,
    get: function () { return current; },
    set: function (value) { current = withHub(value); },
  });
  withHub(current);
})();
