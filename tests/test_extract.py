"""Reply shapes seen from real models -> the artifact extract() must build from them."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from gallery.generate.extract import P5_URL, Artifact, extract, write_files


def fence(info: str, body: str, marker: str = "```", close: bool = True) -> str:
    """A markdown code fence as a model writes it."""
    return f"{marker}{info}\n{body.strip()}\n" + (f"{marker}\n" if close else "")


PAGE = """<!DOCTYPE html>
<html lang="en">
<head><title>Bouncing</title></head>
<body>
<canvas id="c"></canvas>
<script>
const ctx = document.getElementById("c").getContext("2d");
ctx.fillRect(0, 0, 10, 10);
</script>
</body>
</html>"""

SKELETON = """<!DOCTYPE html>
<html>
<head>
<meta charset="utf-8">
<title>Split</title>
</head>
<body>
<canvas id="game"></canvas>
</body>
</html>"""

LINKED = SKELETON.replace("</head>", '<link rel="stylesheet" href="style.css">\n</head>').replace(
    "</body>", '<script src="script.js"></script>\n</body>'
)

CSS = "body { background: #102030; margin: 0; }"
JS = 'const g = document.getElementById("game");\ng.getContext("2d").fillRect(1, 2, 3, 4);'

JAVA = """import javax.swing.*;

public class HexagonBall extends JPanel {
    public static void main(String[] args) {
        System.out.println("spinning hexagon");
    }
}"""

P5 = """function setup() {
  createCanvas(400, 400);
}

function draw() {
  background(220);
  ellipse(frameCount % 400, 200, 40, 40);
}"""


@dataclass
class Case:
    """One reply and what must hold for the artifact built from it."""

    id: str
    reply: str
    status: str = "ok"
    files: set[str] = field(default_factory=lambda: {"index.html"})
    sources: set[str] = field(default_factory=set)
    has: list[tuple[str, str]] = field(default_factory=list)  # (file, text it contains)
    lacks: list[tuple[str, str]] = field(default_factory=list)  # (file, text it must not)
    match: list[tuple[str, str]] = field(default_factory=list)  # (file, regex, DOTALL)
    reason: str | None = None  # substring of Artifact.reason
    truncated: bool = False
    finish_reason: str | None = None


CASES = [
    Case("single-html-fence", "Here you go:\n\n" + fence("html", PAGE) + "\nEnjoy!",
         has=[("index.html", "ctx.fillRect(0, 0, 10, 10);")], lacks=[("index.html", "Enjoy")]),
    Case("fence-without-language", fence("", PAGE), has=[("index.html", '<canvas id="c">')]),
    Case("bare-html-with-prose",
         "Sure! Here is the page.\n\n" + PAGE + "\n\nOpen it in a browser. Have fun.",
         match=[("index.html", r"\A<!DOCTYPE html>.*</html>\s*\Z")],
         lacks=[("index.html", "Sure!"), ("index.html", "Have fun")]),
    Case("split-referenced",
         "### index.html\n" + fence("html", LINKED) + "\n### style.css\n" + fence("css", CSS)
         + "\nAnd **script.js**:\n" + fence("javascript", JS),
         files={"index.html", "style.css", "script.js"},
         has=[("style.css", CSS), ("script.js", JS), ("index.html", 'href="style.css"')],
         lacks=[("index.html", "<style>"), ("index.html", "fillRect")]),
    Case("split-named-in-info",
         fence("html index.html", LINKED) + fence("css style.css", CSS) + fence("js script.js", JS),
         files={"index.html", "style.css", "script.js"}, has=[("script.js", JS)]),
    Case("untagged-named-by-prose-in-subfolders",
         fence("", LINKED.replace('"style.css"', '"css/main.css"')
               .replace('"script.js"', '"./js/app.js?v=2"'))
         + "Create `app.js`:\n" + fence("", JS) + "\nThen **main.css**\n\n" + fence("", CSS),
         files={"index.html", "js/app.js", "css/main.css"},
         has=[("js/app.js", JS), ("css/main.css", CSS)], lacks=[("index.html", "<style>")]),
    Case("two-java-files-and-html",
         fence("java", JAVA) + fence("java", JAVA.replace("HexagonBall", "Ball"))
         + fence("java", JAVA) + fence("html", PAGE),
         sources={"HexagonBall.java", "Ball.java", "HexagonBall-2.java"}),
    Case("split-unreferenced-inlined",
         "HTML:\n" + fence("html", SKELETON) + "CSS:\n" + fence("css", CSS)
         + "JS:\n" + fence("js", JS),
         match=[("index.html", r"<style>\s*" + re.escape(CSS) + r"\s*</style>\s*</head>"),
                ("index.html", r"<script>\s*" + re.escape(JS) + r"\s*</script>\s*</body>")]),
    Case("css-and-js-only", fence("css", CSS) + "\n" + fence("js", JS),
         match=[("index.html", r"\A<!DOCTYPE html>"),
                ("index.html", r'<canvas id="game"></canvas>.*<script>\s*const g'),
                ("index.html", r"<style>\s*" + re.escape(CSS) + r"\s*</style>.*</head>")]),
    Case("java-and-html-hexagon",
         "Java version:\n" + fence("java", JAVA) + "\nHTML version:\n" + fence("html", PAGE),
         sources={"HexagonBall.java"},
         has=[("HexagonBall.java", "public class HexagonBall"), ("index.html", "<canvas")],
         lacks=[("index.html", "JPanel")]),
    Case("java-only", "Here is the Java program:\n" + fence("java", JAVA), status="no-artifact",
         files=set(), sources={"HexagonBall.java"},
         reason="reply has no HTML or JavaScript (found: java)"),
    Case("p5-sketch-only", "A p5.js sketch:\n" + fence("js", P5),
         match=[("index.html", r"<head>.*" + re.escape(P5_URL) + r".*</head>"),
                ("index.html", r"<body>.*function setup\(\).*</script>\s*</body>")]),
    Case("node-js-only",
         fence("js", "const fs = require('fs');\nconsole.log(process.argv);"),
         status="no-artifact", files=set(), sources={"snippet-1.js"},
         reason="no HTML or browser JavaScript (found: js)"),
    Case("empty", "", status="no-artifact", files=set(), reason="empty reply"),
    Case("whitespace", "  \n\t\n", status="no-artifact", files=set(), reason="empty reply"),
    Case("prose-only", "I cannot build that, but here is how you might start: use a canvas.",
         status="no-artifact", files=set(), reason="no code block or HTML found"),
    Case("think-with-fake-fence",
         "<think>\nMaybe:\n" + fence("html", "<html><body>FAKE DRAFT</body></html>")
         + "No, better with a canvas.\n</think>\n\nFinal answer:\n" + fence("html", PAGE),
         has=[("index.html", "ctx.fillRect")], lacks=[("index.html", "FAKE DRAFT")]),
    Case("dangling-close-think",
         "reasoning whose <think> the chat template opened\n" + fence("html", "<p>FAKE</p>")
         + "</think>\n" + fence("html", PAGE),
         lacks=[("index.html", "FAKE")], has=[("index.html", "<canvas")]),
    Case("think-only", "<think>I should write HTML.</think>\n", status="no-artifact",
         files=set(), reason="only reasoning"),
    Case("truncated-unclosed-fence",
         "Here:\n" + fence("html", PAGE.split("<script>")[0] + "<script>\nconst ctx =",
                           close=False),
         finish_reason="length", truncated=True,
         has=[("index.html", "const ctx =")], lacks=[("index.html", "</html>")]),
    Case("html-visibly-unterminated", fence("html", PAGE.split("</body>")[0]),
         truncated=True, has=[("index.html", "<canvas")]),
    Case("two-html-fences-pick-full",
         "First the markup:\n" + fence("html", '<canvas id="c"></canvas>')
         + "\nThe complete file:\n" + fence("html", PAGE),
         match=[("index.html", r"\A<!DOCTYPE html>.*</html>\s*\Z")], sources=set()),
    Case("uppercase-info", fence("HTML", PAGE), has=[("index.html", "ctx.fillRect")]),
    Case("tilde-fence", "~~~html\n" + PAGE + "\n~~~\n", has=[("index.html", "ctx.fillRect")]),
    Case("fragment-gets-doctype", fence("html", '<canvas id="c"></canvas>\n<script>x()</script>'),
         match=[("index.html", r"\A<!DOCTYPE html>\n<canvas")]),
    Case("js-excerpt-not-duplicated",
         fence("html", PAGE) + "\nThe key line is:\n"
         + fence("js", 'const ctx = document.getElementById("c").getContext("2d");'),
         match=[("index.html", r"\A(?:(?!const ctx).)*const ctx(?:(?!const ctx).)*\Z")]),
    Case("python-beside-html", fence("python", "def main():\n    print('hi')") + fence("", PAGE),
         sources={"snippet-1.py"}, has=[("snippet-1.py", "def main")]),
    Case("traversal-name-in-info",
         fence("html", SKELETON.replace("</body>", '<script src="../../evil.js"></script></body>'))
         + fence("js ../../evil.js", JS),
         files={"index.html", "evil.js"}, has=[("evil.js", JS)]),
]  # fmt: skip


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_extract(case: Case) -> None:
    art = extract(case.reply, finish_reason=case.finish_reason)
    assert art.status == case.status, (art.reason, art.notes)
    assert set(art.files) == case.files
    assert set(art.sources) == case.sources
    assert art.truncated is case.truncated
    if case.reason:
        assert art.reason and case.reason in art.reason
    if case.status == "ok":
        assert art.reason is None
    every = {**art.files, **art.sources}
    for name, text in case.has:
        assert text in every[name], f"{name} should contain {text!r}"
    for name, text in case.lacks:
        assert text not in every[name], f"{name} should not contain {text!r}"
    for name, pattern in case.match:
        assert re.search(pattern, every[name], re.S), f"{name} should match {pattern!r}"


def test_length_finish_reason_is_noted() -> None:
    art = extract(fence("html", PAGE), finish_reason="length")
    assert art.status == "ok" and art.truncated
    assert any("length" in note for note in art.notes)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("../../evil.js", "evil.js"),
        ("/etc/passwd", "etc/passwd"),
        ("..\\..\\win.js", "win.js"),
        ("C:\\temp\\x.css", "temp/x.css"),
        ("js/app.js", "js/app.js"),
        ("..", "file.txt"),
    ],
)
def test_write_files_stays_inside_dest(tmp_path: Path, name: str, expected: str) -> None:
    dest = tmp_path / "out" / "artifact"
    art = Artifact(files={"index.html": "<p>hi</p>", name: "x"}, sources={name: "y"}, status="ok")
    write_files(art, dest)
    assert (dest / "index.html").read_text() == "<p>hi</p>"
    assert (dest / expected).read_text() == "x"
    assert (dest / "_sources" / expected).read_text() == "y"
    written = {p.resolve() for p in tmp_path.rglob("*") if p.is_file()}
    assert all(p.is_relative_to(dest.resolve()) for p in written)


def test_write_files_from_extracted_traversal(tmp_path: Path) -> None:
    reply = CASES[-1].reply
    write_files(extract(reply), tmp_path / "a")
    assert sorted(p.name for p in tmp_path.rglob("*") if p.is_file()) == ["evil.js", "index.html"]
    assert (tmp_path / "a" / "evil.js").read_text() == JS + "\n"
