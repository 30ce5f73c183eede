"""Notebooks to HTML: execute them in memory, join them without code, add a table of contents.

* :func:`execute_notebook` -- run a notebook in memory (the file is never modified), optionally
  with injected parameters (papermill style) and extra environment variables for the kernel.
* :func:`render_html` -- join executed notebooks into one self-contained HTML document (the
  ``evalkit_report`` nbconvert template of ``templates/``): no code cells, figures as base64,
  a table of contents from the headings, an appendix; refused if it shows personal data.
* :func:`community_page` -- the profile notebook run for one programme community, as HTML.
"""
from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Sequence

from ..errors import EvalkitError
from .disclosure import assert_no_personal_data

__all__ = ["NOTEBOOKS", "PROFILE_NOTEBOOK", "REPORT_NOTEBOOKS", "check_no_script", "community_page",
           "execute_notebook", "inject_parameters", "notebooks_dir", "render_html", "sanitize_html"]

#: The numbered notebooks, in reading order.
NOTEBOOKS: tuple[str, ...] = (
    "00_quickstart", "01_indicators", "02_programme_impact", "03_community_profiles",
    "04_robustness", "05_your_data",
)
#: The notebooks that make up the evaluation report: all of them (05, the how-to for an
#: evaluator's own data, ends the report as its worked example on a platform export).
REPORT_NOTEBOOKS: tuple[str, ...] = NOTEBOOKS
#: The notebook rendered alone for one community (its ``parameters`` cell sets ``community``).
PROFILE_NOTEBOOK = "03_community_profiles"

_ROOT = Path(__file__).resolve().parents[2]
_TEMPLATES = Path(__file__).resolve().parent / "templates"


def notebooks_dir() -> Path:
    """The numbered notebooks: ``notebooks/`` of a checkout, else the copy installed with evalkit."""
    places = (_ROOT / "notebooks", Path(__file__).resolve().parents[1] / "_notebooks")
    for path in places:
        if (path / f"{NOTEBOOKS[0]}.ipynb").is_file():
            return path
    raise EvalkitError(
        f"The notebooks were not found (looked in {', '.join(map(str, places))}). Reinstall evalkit "
        "(pip install evalkit) or run the report from an evalkit checkout (make report)."
    )


def inject_parameters(nb, parameters: dict) -> None:
    """Insert a cell setting ``parameters`` after the cell tagged ``parameters`` (papermill style).

    The new cell is tagged ``injected-parameters``; values are written with ``repr``.
    """
    import nbformat

    if not parameters:
        return
    idx = next((i for i, c in enumerate(nb.cells) if "parameters" in c.get("metadata", {}).get("tags", [])), None)
    if idx is None:
        raise EvalkitError("The notebook has no cell tagged 'parameters' to inject parameters after.")
    src = "# injected parameters\n" + "\n".join(f"{k} = {v!r}" for k, v in parameters.items())
    cell = nbformat.v4.new_code_cell(src, metadata={"tags": ["injected-parameters"]})
    nb.cells.insert(idx + 1, cell)


def execute_notebook(path: str | Path, *, parameters: dict | None = None, cwd: str | Path | None = None,
                     timeout: int = 900, save_to: str | Path | None = None, env: dict | None = None):
    """Execute a notebook in memory and return the executed copy (the file is not modified).

    Parameters
    ----------
    path
        The ``.ipynb`` file.
    parameters
        Values injected after the cell tagged ``parameters``.
    cwd
        Working directory of the kernel (default: the notebook's folder, so relative paths in it
        work as when it is opened in JupyterLab).
    save_to
        Also write the executed copy there (e.g. a temporary folder).
    env
        Environment variables set for the kernel on top of this process's (e.g.
        ``{"EVALKIT_DATA": folder}``, the data folder the notebooks read).
    """
    import nbformat
    from nbclient import NotebookClient

    path = Path(path)
    nb = nbformat.read(path, as_version=4)
    nb = copy.deepcopy(nb)
    if parameters:
        inject_parameters(nb, parameters)
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3",
                            resources={"metadata": {"path": str(cwd or path.parent)}})
    if env:
        import os

        client.execute(env={**os.environ, **{k: str(v) for k, v in env.items()}})
    else:
        client.execute()
    if save_to is not None:
        nbformat.write(nb, str(save_to))
    return nb


#: Markup that would run in a browser: script elements, javascript:/vbscript: URLs, event-handler
#: attributes (``onerror=``), frames and objects, and meta refreshes. Matched on the page with
#: entities of ASCII letters decoded, so ``&#106;avascript:`` is caught as well.
_EXECUTABLE = re.compile(
    r"<\s*(script|iframe|frame|object|embed|applet|base|form)\b"
    r"|http-equiv\s*=\s*[\"']?refresh"
    r"|data\s*:\s*text/html",
    re.I)
#: An event-handler attribute (``onerror=``), looked for in tags whose quoted values are emptied.
_HANDLER = re.compile(r"<[^>]*[\s/\"'](on[a-z]+)\s*=", re.I)
#: A quoted attribute value inside a tag: its text (an escaped name in ``alt="..."``) is inert, so
#: the event-handler check looks at tags with their quoted values emptied.
_TAG = re.compile(r"<[^<>]*>")
_QUOTED_VALUE = re.compile(r"""=\s*("[^"]*"|'[^']*')""")
#: ``javascript:`` and ``vbscript:`` URLs in an attribute, matched with whitespace and control
#: characters removed (browsers ignore them inside a URL scheme); the words in text are inert.
_SCRIPT_URL = re.compile(r"<[^<>]*=[\"']?(java|vb)script:", re.I)


def check_no_script(html: str, page: str) -> None:
    """Refuse a rendered page with anything a browser would execute.

    Script, frame and object elements, event-handler attributes (``onerror=``), meta refreshes,
    ``data:text/html`` and ``javascript:`` URLs, also written with numeric character references.

    Raises
    ------
    EvalkitError
        Naming the page and what was found; the page is not written.
    """
    import html as _html

    tags = _TAG.sub(lambda m: _QUOTED_VALUE.sub('=""', m.group(0)), html)  # quoted values emptied
    decode = lambda page: re.sub(r"&#(x[0-9a-f]+|[0-9]+);?", lambda m: _html.unescape(m.group(0)), page,  # noqa: E731
                                 flags=re.I)
    text = decode(html)
    m = (_EXECUTABLE.search(text) or _HANDLER.search(decode(tags))
         or _SCRIPT_URL.search(re.sub(r"[\s\x00-\x1f]", "", text)))
    if m:
        raise EvalkitError(
            f"{page}: refused, the rendered HTML contains executable markup ({m.group(0)[:40]!r}). "
            "A string from the data, registry, codebook or a file name reached the page unescaped: "
            "escape it where it is built (evalkit.evaluation.targets.md_text, html.escape).")


#: What an HTML output of a cell may contain in a report (tables, text, inline styles, data-URI
#: images); everything else is removed by :func:`sanitize_html` (bleach, which nbconvert uses).
_HTML_TAGS = frozenset({
    "a", "b", "blockquote", "br", "caption", "code", "col", "colgroup", "div", "em", "h1", "h2", "h3", "h4",
    "h5", "h6", "hr", "i", "img", "li", "ol", "p", "pre", "small", "span", "strong", "style", "sub", "sup",
    "table", "tbody", "td", "tfoot", "th", "thead", "tr", "ul"})
_HTML_ATTRIBUTES = {"*": {"class", "style", "title", "align"}, "th": {"colspan", "rowspan"},
                    "td": {"colspan", "rowspan"}, "img": {"src", "alt", "width", "height"},
                    "a": {"href"}, "table": {"border"}, "style": {"scoped"}}


def sanitize_html(fragment: str) -> str:
    """An HTML output of a cell with everything outside a strict allow-list removed.

    Keeps tables, text markup, ``<style>`` and ``style=`` (pandas' table reprs) and images with
    ``data:`` URIs; removes scripts with their content, event handlers, frames, forms and
    ``javascript:`` URLs.
    """
    import bleach

    return bleach.clean(fragment, tags=_HTML_TAGS, protocols={"data", "https", "http"}, strip=True,
                        strip_comments=True, attributes={k: sorted(v) for k, v in _HTML_ATTRIBUTES.items()},
                        css_sanitizer=_css_sanitizer())


def _css_sanitizer():
    from bleach.css_sanitizer import ALLOWED_CSS_PROPERTIES, CSSSanitizer

    return CSSSanitizer(allowed_css_properties=ALLOWED_CSS_PROPERTIES | {
        "vertical-align", "text-align", "background", "padding", "margin", "white-space"})


def _sanitize_outputs(cell) -> None:
    """Sanitise the ``text/html`` outputs of a code cell in place (:func:`sanitize_html`)."""
    for out in cell.get("outputs", []):
        data = out.get("data", {})
        if "text/html" in data:
            src = data["text/html"]
            data["text/html"] = sanitize_html("".join(src) if isinstance(src, list) else src)


#: A warning as Python prints it to stderr: ``path:line: FewClustersWarning: message``.
_WARNING = re.compile(r"(?:^|\n)(?:[^\n]*?:\d+: )?([A-Z]\w*(?:Warning|Error)): ([^\n]+)")


def _stderr_to_notes(cell, notes: dict) -> None:
    """Remove the stderr outputs and the warnings :func:`evalkit.publish.notebook.setup_notebook`
    displays (boxes to a reader) of a code cell in place, keeping each
    warning's class and message in ``notes`` (``{(class, message): None}``, in order) for the prose."""
    kept = []
    for out in cell.get("outputs", []):
        data = out.get("data", {})
        html = data.get("text/html", "")
        if out.get("output_type") == "stream" and out.get("name") == "stderr":
            text = out.get("text", "")
        elif "evalkit-warning" in ("".join(html) if isinstance(html, list) else html):  # setup_notebook's warnings
            text = data.get("text/plain", "")
        else:
            kept.append(out)
            continue
        for kind, message in _WARNING.findall("".join(text) if isinstance(text, list) else text):
            notes.setdefault((kind, message.strip()), None)
    cell["outputs"] = kept


def warnings_prose(notes) -> str:
    """One paragraph of Markdown saying what the computations warned about (no boxes)."""
    from ..evaluation.targets import md_text

    if not notes:
        return ""
    items = [f"{md_text(message)} ({md_text(kind)})" for kind, message in notes]
    return ("**Notes from the computations.** While the analysis ran, evalkit noted: " + "; ".join(items)
            + ". None of them stopped a computation.")


_HEADING = re.compile(r"<h([123])(\s[^>]*)?>(.*?)</h\1>", re.S)


def _add_toc(html: str) -> str:
    """Give every h1–h3 of the cells a unique id and fill the TOC slot with links to them."""
    entries = []
    counter = 0

    def repl(m):
        nonlocal counter
        level, attrs, inner = m.group(1), m.group(2) or "", m.group(3)
        if 'class="evalkit-title"' in attrs:
            return m.group(0)
        counter += 1
        anchor = f"sec-{counter}"
        attrs = re.sub(r'\sid="[^"]*"', "", attrs)
        # the anchor link nbconvert derives from the heading's text points at the new id instead
        inner = re.sub(r'(<a class="anchor-link" href=")#[^"]*"', rf'\g<1>#{anchor}"', inner)
        text = re.sub(r"<[^>]+>", "", inner).replace("¶", "").strip()
        entries.append((int(level), anchor, text))
        return f'<h{level} id="{anchor}"{attrs}>{inner}</h{level}>'

    html = _HEADING.sub(repl, html)
    parts, open_sub = [], False
    for level, anchor, text in entries:
        link = f'<a href="#{anchor}">{text}</a>'
        if level == 1:
            if open_sub:
                parts.append("</ul>")
                open_sub = False
            parts.append(("</li>" if parts else "") + f'<li class="toc-h1">{link}')
        elif level == 2:
            if not open_sub:
                parts.append("<ul>")
                open_sub = True
            parts.append(f'<li class="toc-h2">{link}</li>')
    if open_sub:
        parts.append("</ul>")
    toc = ('<nav class="evalkit-toc"><h2 class="toc-title">目录 Contents</h2><ul class="toc-top">'
           + "".join(parts) + ("</li>" if parts else "") + "</ul></nav>")
    return html.replace("<!--EVALKIT-TOC-->", toc, 1)


def render_html(notebooks: Sequence, *, title: str, subtitle: str = "", appendix: str | None = None,
                lang: str = "zh-CN") -> str:
    """Join executed notebooks into one self-contained HTML document without code cells.

    Code inputs and prompts are left out, figures are embedded as base64 PNG, the template loads
    no script from the web, headings get a table of contents, warnings printed to stderr become
    one paragraph of prose (:func:`warnings_prose`) instead of boxes, and ``appendix`` (markdown)
    is added at the end. Raises :class:`PersonalDataError` if the text shows personal data.
    """
    import nbformat
    from nbconvert import HTMLExporter

    if not notebooks:
        raise EvalkitError("render_html: no notebooks to render.")
    merged = nbformat.v4.new_notebook()
    merged.metadata = copy.deepcopy(dict(notebooks[0].metadata))
    merged.metadata.pop("papermill", None)
    merged.metadata["evalkit"] = {"title": title, "subtitle": subtitle}
    merged.metadata["title"] = title
    warned: dict = {}
    for nb in notebooks:
        for cell in nb.cells:
            tags = cell.get("metadata", {}).get("tags", [])
            if "remove-cell" in tags or "injected-parameters" in tags:
                continue
            if cell.cell_type == "code" and ("parameters" in tags or "setup" in tags):
                continue
            merged.cells.append(copy.deepcopy(cell))
            if cell.cell_type == "code":
                _stderr_to_notes(merged.cells[-1], warned)
                _sanitize_outputs(merged.cells[-1])
    if warned:
        merged.cells.append(nbformat.v4.new_markdown_cell(warnings_prose(warned)))
    if appendix:
        merged.cells.append(nbformat.v4.new_markdown_cell(appendix))
    exporter = HTMLExporter(template_name="evalkit_report", extra_template_basedirs=[str(_TEMPLATES)],
                            exclude_input=True, exclude_input_prompt=True, exclude_output_prompt=True)
    body, _ = exporter.from_notebook_node(merged, resources={"language_code": lang})
    body = _add_toc(body)
    check_no_script(body, page=title)
    assert_no_personal_data(body, source="the report")
    return body


def community_page(community: str, *, title: str, subtitle: str = "", appendix: str | None = None,
                   notebook_dir: str | Path | None = None, env: dict | None = None,
                   save_to: str | Path | None = None) -> str:
    """The profile notebook (:data:`PROFILE_NOTEBOOK`) run for one community, as one HTML page.

    The community is injected as the notebook's ``community`` parameter; ``env`` is passed to
    the kernel (:func:`execute_notebook`). Checking that ``community`` is a programme community
    is the caller's job (:func:`evalkit.publish.report.build_report` does it from the registry).
    """
    nb_dir = Path(notebook_dir) if notebook_dir is not None else notebooks_dir()
    path = nb_dir / f"{PROFILE_NOTEBOOK}.ipynb"
    if not path.is_file():
        raise EvalkitError(f"{path} is missing; cannot render a community profile.")
    nb = execute_notebook(path, cwd=nb_dir, parameters={"community": community}, env=env, save_to=save_to)
    return render_html([nb], title=title, subtitle=subtitle, appendix=appendix)
