"""A model reply -> a runnable artifact (entry ``index.html``).

Models answer "write a web page showing X" in many shapes: one ```html fence, a fence
without a language tag, bare HTML with prose around it, HTML + CSS + JS split into
fences (named or not), a p5 sketch alone, Java beside HTML, a reply cut off mid-fence.
This module turns each shape into files a browser can load, keeps other code for
display, and says in one line why when there is nothing to run, so that render and
site never have to guess what a reply meant.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from markdown_it import MarkdownIt

from gallery.records.store import SOURCES_DIR

P5_URL = "https://cdn.jsdelivr.net/npm/p5@1/lib/p5.min.js"
HTML_LANGS = {"html", "htm", "xhtml", "html5"}
CSS_LANGS = {"css"}
JS_LANGS = {"js", "javascript", "mjs", "ecmascript"}
WEB_EXTS = {"html": "html", "htm": "html", "css": "css", "js": "js", "mjs": "js"}
EXTS = {"python": "py", "c++": "cpp", "csharp": "cs", "c#": "cs", "rust": "rs", "golang": "go",
        "typescript": "ts", "kotlin": "kt", "ruby": "rb", "bash": "sh", "shell": "sh",
        "console": "sh", "text": "txt", "plaintext": "txt", "javascript": "js",
        "html": "html"}  # fmt: skip
_EXT = r"html?|css|m?js|jsx|tsx?|java|py|c|cc|cpp|h|hpp|cs|rs|go|kt|rb|php|swift|sh|json|svg|glsl"
_FILENAME = re.compile(
    rf"(?<![\w-])((?:[\w.\\/-]*[\\/])?[\w-][\w.-]*\.({_EXT}))(?![\w-]|\.\w)", re.I
)
_THINK = re.compile(r"<(think|thinking)>.*?</\1>", re.S | re.I)
_BROWSER = re.compile(
    r"\b(document|window|requestAnimationFrame|getContext|createCanvas|navigator|"
    r"localStorage|addEventListener|THREE|PIXI|Phaser)\b"
)
_NODE = re.compile(r"\brequire\s*\(|\bprocess\.|\bmodule\.exports\b")
_P5 = re.compile(r"function\s+setup\s*\(")
_REF = re.compile(r"<(script|link)\b[^>]*?\b(?:src|href)\s*=\s*[\"']?([^\"'\s>]+)", re.I)


@dataclass
class Artifact:
    """What extraction found: files to run, code to show, and why when nothing runs."""

    files: dict[str, str]
    sources: dict[str, str]
    status: str
    reason: str | None = None
    truncated: bool = False
    notes: list[str] = field(default_factory=list)


@dataclass(eq=False)
class _Block:
    """One code fence: ``kind`` is html/css/js or another language ("java", "text")."""

    kind: str
    text: str
    name: str | None
    closed: bool


def extract(reply: str, *, finish_reason: str | None = None) -> Artifact:
    """Turn a reply into an Artifact; never raises on odd input, says why instead."""
    art = Artifact(files={}, sources={}, status="no-artifact")
    if finish_reason == "length":
        art.truncated = True
        art.notes.append("reply was cut off at the length limit")
    if not reply or not reply.strip():
        art.reason = "empty reply"
        return art
    text = _strip_reasoning(reply)
    if text != reply:
        art.notes.append("ignored <think> reasoning")
    if not text.strip():
        art.reason = "empty reply (only reasoning)"
        return art
    blocks, prose = _blocks(text)
    htmls = [b for b in blocks if b.kind == "html"]
    page: str | None = None
    if htmls:
        main = max(htmls, key=_completeness)
        page, used = main.text, [main]
        if not main.closed:
            art.notes.append("the HTML code block is not closed")
    elif bare := _bare_html(prose):
        page, used = bare, []
        art.notes.append("bare HTML reply")
    browser = [b for b in blocks if b.kind == "js" and _BROWSER.search(b.text)]
    web_js = [b for b in blocks if b.kind == "js" and (page or b in browser)]
    web_js = [b for b in web_js if not (_NODE.search(b.text) and b not in browser)]
    css = [b for b in blocks if b.kind == "css"]
    if page is None and web_js:
        page, used = _skeleton(web_js), []
        art.notes.append("built an HTML page around the script")
    if page is None:
        kinds = sorted({b.kind for b in blocks})
        what = "browser JavaScript" if "js" in kinds else "JavaScript"
        art.reason = f"reply has no HTML or {what} (found: {', '.join(kinds)})"
        if not blocks:
            art.reason = "no code block or HTML found"
        _keep_sources(art, blocks)
        return art
    dropped: list[_Block] = []
    page = _assemble(page, [b for b in blocks if b in css or b in web_js], used, dropped, art)
    for b in htmls:
        if b not in used and _excerpt(b.text, page):
            art.notes.append("skipped an html block already in the page")
            dropped.append(b)
    _keep_sources(art, [b for b in blocks if b not in used and b not in dropped])
    if len(used) > 1:
        art.notes.append(f"assembled from {len(used)} code blocks")
    if re.search(r"<html[\s>]", page, re.I) and not re.search(r"</html\s*>", page, re.I):
        art.truncated = True
        art.notes.append("HTML is unterminated (no </html>)")
    art.files = {"index.html": page, **art.files}
    art.status = "ok"
    return art


def write_files(artifact: Artifact, dest: Path) -> None:
    """Write ``files`` under ``dest`` and ``sources`` under ``dest/_sources/``.

    Sources sit in their own folder so that no source name (even ``index.html``) can
    replace a page file, and no page refers to them. Names are sanitised again here
    (``..``, absolute and drive parts dropped) because an Artifact may be built by hand;
    a path that still resolves outside ``dest`` (a symlink) raises ValueError.
    """
    root = dest.resolve()
    for sub, mapping in (("", artifact.files), (SOURCES_DIR, artifact.sources)):
        for name, text in mapping.items():
            path = (root / sub / _safe_name(name)).resolve()
            if not path.is_relative_to(root):
                raise ValueError(f"refusing to write {name!r} outside {dest}")
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8", newline="")


def _strip_reasoning(text: str) -> str:
    """Drop <think> blocks, a dangling ``</think>`` (template opened it) or ``<think>``."""
    text = _THINK.sub("", text)
    if m := list(re.finditer(r"</think(?:ing)?>", text, re.I)):
        text = text[m[-1].end() :]
    if m := re.search(r"<think(?:ing)?>", text, re.I):
        text = text[: m.start()]
    return text


def _blocks(text: str) -> tuple[list[_Block], str]:
    """Code fences in reply order, and the prose between them (where bare HTML lives)."""
    lines = text.replace("\r\n", "\n").split("\n")
    blocks: list[_Block] = []
    covered: set[int] = set()
    for tok in MarkdownIt("commonmark").parse("\n".join(lines)):
        if tok.type != "fence" or not tok.map:
            continue
        start, end = tok.map
        last = lines[end - 1].strip() if end - 1 > start else ""
        closed = bool(last) and last.startswith(tok.markup) and set(last) == {tok.markup[0]}
        before = next((lines[i] for i in range(start - 1, max(start - 3, -1), -1)
                       if lines[i].strip() and i not in covered), "")  # fmt: skip
        covered.update(range(start, end))
        info = tok.info.strip()
        lang = re.split(r"[\s:{,=]", info.lower().removeprefix("language-"), maxsplit=1)[0]
        kind = _lang_kind(lang)
        name = _name_in(info, kind) or _name_in(before, kind)
        if kind is None:  # untagged: an HTML document wins, then the name, then a guess
            ext = PurePosixPath(name).suffix.lower().lstrip(".") if name else ""
            sniffed = _sniff(tok.content)
            kind = "html" if sniffed == "html" else WEB_EXTS.get(ext) or ext or sniffed
        blocks.append(_Block(kind, tok.content, name, closed))
    prose = "\n".join(line for i, line in enumerate(lines) if i not in covered)
    return blocks, prose


def _lang_kind(lang: str) -> str | None:
    """A fence's kind from its language tag; None when the tag is absent or a file name."""
    if not lang or _FILENAME.fullmatch(lang):
        return None
    for kind, langs in (("html", HTML_LANGS), ("css", CSS_LANGS), ("js", JS_LANGS)):
        if lang in langs:
            return kind
    return lang


def _name_in(text: str, kind: str | None) -> str | None:
    """A file name in an info string or heading, matching the fence kind when known."""
    for m in _FILENAME.finditer(text):
        ext = m.group(2).lower()
        if kind is None or WEB_EXTS.get(ext, ext) == kind or EXTS.get(kind) == ext:
            return _safe_name(m.group(1))
    return None


def _sniff(code: str) -> str:
    """Guess the language of an untagged fence from its first lines."""
    head = code.lstrip()[:3000]
    low = head.lower()
    if re.search(r"<!doctype html|<html[\s>]", low) or (
        low.startswith("<") and re.search(r"<(head|body|canvas|script|div|style|svg)\b", low)
    ):
        return "html"
    if re.search(r"\bpublic\s+(?:final\s+)?class\s+\w+|^import\s+java", head, re.M):
        return "java"
    if re.search(r"^(def \w+\(|from [\w.]+ import |import [\w.]+\s*$)", head, re.M):
        return "python"
    if re.search(r"\b(function\s*\w*\s*\(|const\s+\w|let\s+\w|var\s+\w)|=>|\bdocument\.", head):
        return "js"
    if re.search(r"^[^{};\n]+\{[^{}]*:[^{}]*\}", head, re.M):
        return "css"
    return "text"


def _completeness(block: _Block) -> tuple[bool, bool, int]:
    """Rank HTML blocks: a whole document beats a fragment, then the longer wins."""
    low = block.text.lower()
    return ("<html" in low or "<!doctype" in low, "<body" in low, len(block.text))


def _bare_html(prose: str) -> str | None:
    """HTML written without a fence: from <!DOCTYPE/<html to the last </html>, or all."""
    if m := re.search(r"<!doctype html|<html[\s>]", prose, re.I):
        end = prose.lower().rfind("</html")
        stop = prose.find(">", end) + 1 if end > m.start() else len(prose)
        return prose[m.start() : stop or len(prose)].strip() + "\n"
    whole = prose.strip()
    if whole.startswith("<") and re.search(r"<(body|canvas|script|div|svg)\b", whole, re.I):
        return whole + "\n"
    return None


def _assemble(
    page: str, parts: list[_Block], used: list[_Block], dropped: list[_Block], art: Artifact
) -> str:
    """Attach CSS/JS fences: as files where the page links them, else inlined.

    A fence whose lines are mostly in the page already is an explanation excerpt and goes
    to ``dropped``; a second script beside the page's own inline one is left out (it would
    redeclare names and break the page), so the caller files it under sources.
    """
    for kind, ref in _local_refs(page):
        want = PurePosixPath(ref).name
        free = [b for b in parts if b.kind == kind and b not in used]
        hit = next((b for b in free if b.name and PurePosixPath(b.name).name == want), None)
        hit = hit or next((b for b in free if not b.name), None)
        if hit is None:
            if ref not in art.files:
                art.notes.append(f"page refers to {ref}, which the reply does not include")
            continue
        art.files[ref] = hit.text
        used.append(hit)
    if not re.search(r"<html[\s>]|<!doctype", page, re.I):
        page = "<!DOCTYPE html>\n" + page
        art.notes.append("wrapped an HTML fragment in a document")
    own_script = re.search(r"<script\b(?![^>]*\bsrc=)[^>]*>\s*\S", page, re.I)
    for b in [b for b in parts if b not in used]:
        if _excerpt(b.text, page):
            art.notes.append(f"skipped a {b.kind} block already in the page")
            dropped.append(b)
        elif b.kind == "css":
            page = _into_head(page, f"<style>\n{b.text.rstrip()}\n</style>\n")
            used.append(b)
        elif not own_script:
            module = (b.name or "").endswith(".mjs") or re.search(
                r"^(import|export)\s", b.text, re.M
            )
            code = b.text.rstrip().replace("</script", "<\\/script")
            tag = '<script type="module">' if module else "<script>"
            page = _into_body_end(page, f"{tag}\n{code}\n</script>\n")
            used.append(b)
        else:
            art.notes.append("kept a js block out: the page already has its own script")
    scripts = "\n".join(b.text for b in used if b.kind == "js")
    has_p5 = re.search(r"<script[^>]*\bsrc=[^>]*p5", page, re.I)
    if _P5.search(scripts) and "createCanvas" in scripts and not has_p5:
        page = _into_head(page, f'<script src="{P5_URL}"></script>\n')
        art.notes.append("added p5.js for a p5 sketch")
    return page


def _local_refs(page: str) -> list[tuple[str, str]]:
    """Relative stylesheet and script paths the page loads (kind, normalised path)."""
    refs = []
    for m in _REF.finditer(page):
        url = re.split(r"[?#]", m.group(2))[0]
        ext = PurePosixPath(url).suffix.lower().lstrip(".")
        kind = "js" if m.group(1).lower() == "script" else "css"
        if re.match(r"[a-z][\w+.-]*:|//", url, re.I) or WEB_EXTS.get(ext) != kind:
            continue
        refs.append((kind, _safe_name(url)))
    return list(dict.fromkeys(refs))


def _excerpt(code: str, page: str) -> bool:
    """True when most lines of a fence already appear in the page (an explanation)."""
    lines = [line.strip() for line in code.splitlines() if len(line.strip()) > 3]
    return bool(lines) and sum(line in page for line in lines) >= 0.5 * len(lines)


def _skeleton(scripts: list[_Block]) -> str:
    """A minimal HTML5 page with the elements a stand-alone script looks up by id."""
    js = "\n".join(b.text for b in scripts)
    found = re.findall(r"getElementById\(\s*['\"]([\w-]+)|querySelector\(\s*['\"]#([\w-]+)", js)
    ids = list(dict.fromkeys(a or b for a, b in found))
    canvas = [i for i in ids if "canvas" in i.lower()] or ids[:1] * ("getContext" in js)
    body = "".join(
        f'<canvas id="{i}"></canvas>\n' if i in canvas else f'<div id="{i}"></div>\n' for i in ids
    )
    if not canvas and re.search(r"querySelector\(\s*['\"]canvas|TagName\(\s*['\"]canvas", js):
        body += "<canvas></canvas>\n"
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        "<title>Demo</title>\n<style>\nhtml, body { margin: 0; }\n</style>\n</head>\n"
        f"<body>\n{body}</body>\n</html>\n"
    )


def _into_head(page: str, snippet: str) -> str:
    """Insert before </head>, else before <body>, else after the doctype."""
    for pattern in (r"</head\s*>", r"<body\b"):
        if m := re.search(pattern, page, re.I):
            return page[: m.start()] + snippet + page[m.start() :]
    m = re.match(r"\s*<!doctype[^>]*>\s*", page, re.I)
    cut = m.end() if m else 0
    return page[:cut] + snippet + page[cut:]


def _into_body_end(page: str, snippet: str) -> str:
    """Insert before the last </body>, else the last </html>, else at the end."""
    for tag in ("</body", "</html"):
        if (i := page.lower().rfind(tag)) != -1:
            return page[:i] + snippet + page[i:]
    return page.rstrip("\n") + "\n" + snippet


def _keep_sources(art: Artifact, blocks: list[_Block]) -> None:
    """File code the page does not run under a sensible display name."""
    for n, b in enumerate(blocks, 1):
        cls = re.search(r"\bpublic\s+(?:final\s+|abstract\s+)*class\s+(\w+)", b.text)
        if b.name:
            name = b.name
        elif b.kind == "java" and cls:
            name = f"{cls.group(1)}.java"
        else:
            ext = EXTS.get(b.kind, b.kind if re.fullmatch(r"\w{1,8}", b.kind) else "txt")
            name = f"snippet-{n}.{ext}"
        stem, dot, ext = name.rpartition(".") if "." in name else (name, "", "")
        k = 1
        while name in art.sources or name in art.files:
            k += 1
            name = f"{stem}-{k}{dot}{ext}"
        art.sources[name] = b.text


def _safe_name(name: str, fallback: str = "file.txt") -> str:
    """A relative path that stays inside its folder: no .., no root, no drive, no odd chars."""
    parts = [p for p in re.split(r"[\\/]+", name.strip()) if not re.fullmatch(r"[A-Za-z]:", p)]
    parts = [re.sub(r"[^\w.-]", "_", p) for p in parts if p.strip(".")]
    return "/".join(parts) or fallback
