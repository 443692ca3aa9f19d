"""The documentation runs: every ```python block of every page executes, and its asserts hold.

Blocks of one page run in order in one shared namespace, so each page is one runnable story.
A block whose info string says ``no-run`` (```python no-run) is shown but not run. Each page
runs in its own empty working folder, and leaves the environment and sys.path as it found them.
"""

from __future__ import annotations

import os
import re
import sys
import traceback
from dataclasses import dataclass
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parent.parent / "docs"
FENCE = re.compile(r"^```python([^\n]*)\n(.*?)^```[ \t]*$", re.MULTILINE | re.DOTALL)
LINK = re.compile(r"\]\(([^)#\s]+)(#[^)]*)?\)")


@dataclass(frozen=True)
class CodeBlock:
    number: int  # 1-based, among the page's python blocks that run
    line: int  # line of the block's first code line in the page
    code: str

    @property
    def first_line(self) -> str:
        return next((line.strip() for line in self.code.splitlines() if line.strip()), "")


def python_blocks(text: str) -> list[CodeBlock]:
    """The ```python blocks of a Markdown text that are meant to run, in order."""
    blocks = []
    for match in FENCE.finditer(text):
        if "no-run" in match.group(1).split():
            continue
        line = text.count("\n", 0, match.start(2)) + 1
        blocks.append(CodeBlock(len(blocks) + 1, line, match.group(2)))
    return blocks


def run_page(page: Path, name: str) -> None:
    """Run the page's blocks in one namespace; fail naming the page, block and its first line."""
    namespace: dict = {"__name__": f"docs_{page.stem.replace('-', '_')}"}
    for block in python_blocks(page.read_text(encoding="utf-8")):
        failure = run_block(block, page, namespace)
        if failure is not None:  # failing outside `except`: no chained-exception noise
            pytest.fail(
                f"{name}, python block {block.number} (line {block.line}: {block.first_line}) "
                f"failed with {failure}",
                pytrace=False,
            )


def run_block(block: CodeBlock, page: Path, namespace: dict) -> str | None:
    """Execute one block; None when it ran, else the error and its traceback."""
    # Padding puts the code on its own lines of the page, so tracebacks point into it;
    # dont_inherit keeps this file's `from __future__` imports away from the page's code.
    source = "\n" * (block.line - 1) + block.code
    try:
        exec(compile(source, str(page), "exec", dont_inherit=True), namespace)
    except Exception as error:
        return f"{type(error).__name__}: {error}\n\n" + "".join(traceback.format_exception(error))
    return None


def pages() -> list[Path]:
    return sorted(DOCS.rglob("*.md"))


@pytest.fixture
def isolated(tmp_path, monkeypatch):
    """An empty working folder; environment, sys.path and modules put back afterwards."""
    monkeypatch.chdir(tmp_path)
    environment, path, modules = dict(os.environ), list(sys.path), set(sys.modules)
    yield tmp_path
    os.environ.clear()
    os.environ.update(environment)
    sys.path[:] = path
    for name in set(sys.modules) - modules:
        if str(tmp_path) in str(getattr(sys.modules[name], "__file__", None) or ""):
            del sys.modules[name]


@pytest.mark.parametrize("page", pages(), ids=lambda page: str(page.relative_to(DOCS)))
def test_page_runs(page: Path, isolated):
    run_page(page, str(page.relative_to(DOCS)))


@pytest.mark.parametrize("page", pages(), ids=lambda page: str(page.relative_to(DOCS)))
def test_page_links_point_at_existing_files(page: Path):
    text = page.read_text(encoding="utf-8")
    targets = [m.group(1) for m in LINK.finditer(text) if "://" not in m.group(1)]
    missing = [target for target in targets if not (page.parent / target).exists()]
    assert missing == [], f"{page.relative_to(DOCS)} links to missing files: {missing}"


def test_a_failing_block_fails_its_page(tmp_path):
    page = tmp_path / "broken.md"
    page.write_text(
        "# Broken\n\n```python\nvalue = 2\n```\n\n```python no-run\nraise SystemExit\n```\n\n"
        "```python\nassert value == 3, 'two is not three'\n```\n"
    )
    with pytest.raises(pytest.fail.Exception) as caught:
        run_page(page, "broken.md")
    message = str(caught.value)
    assert "broken.md, python block 2 (line 12: assert value == 3, 'two" in message
    assert 'broken.md", line 12' in message  # the traceback points into the page
    assert "AssertionError: two is not three" in message


def test_blocks_marked_no_run_are_skipped():
    text = "```python\na = 1\n```\n```python no-run\nb = 2\n```\n```bash\nls\n```\n"
    assert [block.code for block in python_blocks(text)] == ["a = 1\n"]
