"""A retrieval corpus built at run time from the docstrings of standard-library modules.

Every machine with Python has it, so nothing is copied into the repository. Each module
becomes one Markdown document named after it (`json.md`, `urllib.parse.md`): the module's
docstring, then the docstrings of its public classes (with their public methods) and
functions in name order. The text is that of the running interpreter; under `python -OO`
pure-Python modules lose their docstrings and are skipped, and too few left is an error.
"""

from __future__ import annotations

import importlib
import inspect
import re
import sys
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

# Modules with substantial documentation on distinct subjects.
MODULES = (
    "argparse", "array", "ast", "base64", "bisect", "bz2", "calendar", "codecs",
    "collections", "concurrent.futures", "configparser", "contextlib", "copy", "csv",
    "dataclasses", "datetime", "decimal", "difflib", "doctest", "enum", "fileinput",
    "ftplib", "functools", "gc", "getopt", "graphlib", "gzip", "hashlib", "heapq", "hmac",
    "http.cookiejar", "http.server", "inspect", "io", "ipaddress", "itertools", "json",
    "locale", "logging", "lzma", "math", "mimetypes", "operator", "pathlib", "pdb",
    "pickle", "platform", "queue", "random", "re", "secrets", "selectors", "shelve",
    "shutil", "smtplib", "socket", "socketserver", "sqlite3", "ssl", "statistics", "struct",
    "subprocess", "tarfile", "tempfile", "textwrap", "threading", "time", "timeit",
    "traceback", "typing", "unicodedata", "unittest", "urllib.parse", "urllib.request",
    "uuid", "warnings", "weakref", "xml.etree.ElementTree", "zipfile", "zlib",
)  # fmt: skip
MIN_MODULE_CHARS = 1500  # less than this is not worth a document (or was stripped by -OO)
MIN_MODULES = 60  # fewer documents and the evaluation says little
MEMBER_CHARS = 800  # one function's or class's docstring, cut at a paragraph
DOCUMENT_CHARS = 12000  # one module, cut at a member
_NOT_A_HEADING = re.compile(r"^#", re.MULTILINE)  # a comment in an example, not a section


class CorpusTooSmallError(RuntimeError):
    """Too few standard-library modules have docstrings on this interpreter."""


@dataclass(frozen=True)
class ModuleDocument:
    module: str
    text: str


def _clip(text: str, limit: int) -> str:
    """The paragraphs of `text` that fit in `limit` characters (at least the first)."""
    kept: list[str] = []
    used = 0
    for paragraph in text.split("\n\n"):
        if kept and used + len(paragraph) > limit:
            break
        kept.append(paragraph)
        used += len(paragraph) + 2
    return "\n\n".join(kept)


def _public_names(module: ModuleType) -> list[str]:
    declared = getattr(module, "__all__", None)
    if declared is not None:
        return sorted(set(declared))
    own = {module.__name__, "_" + module.__name__.rsplit(".", 1)[-1]}
    return sorted(
        name
        for name, value in vars(module).items()
        if not name.startswith("_")
        and (inspect.isclass(value) or inspect.isroutine(value))
        and getattr(value, "__module__", None) in own
    )


def _from_stdlib(value: object) -> bool:
    """Not something a third-party library patched in (pytest replaces pdb.set_trace)."""
    origin = getattr(value, "__module__", None)
    return origin is None or origin.partition(".")[0] in sys.stdlib_module_names


def _member_docs(module: ModuleType) -> Iterator[str]:
    """Functions first (the usual entry points), then classes with their methods."""
    values = [
        (name, value)
        for name in _public_names(module)
        if _from_stdlib(value := getattr(module, name, None))
    ]
    functions = [(name, value) for name, value in values if inspect.isroutine(value)]
    classes = [(name, value) for name, value in values if inspect.isclass(value)]
    for name, value in functions + classes:
        doc = inspect.getdoc(value)
        if doc and (not inspect.isclass(value) or value.__doc__):  # not inherited
            yield f"{name}\n\n{_clip(doc, MEMBER_CHARS)}"
        if inspect.isclass(value):
            for attr, method in sorted(vars(value).items()):
                method_doc = getattr(method, "__doc__", None)
                if not attr.startswith("_") and callable(method) and method_doc:
                    yield f"{name}.{attr}\n\n{_clip(inspect.cleandoc(method_doc), MEMBER_CHARS)}"


def module_document(name: str) -> ModuleDocument | None:
    """The module's documentation as one text, or None when it has too little."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        try:
            module = importlib.import_module(name)
        except ImportError:  # not built into this Python (sqlite3, ssl, ...)
            return None
    parts = [f"# {name}"]
    used = 0
    module_doc = inspect.getdoc(module)
    if module_doc:
        parts.append(_clip(module_doc, DOCUMENT_CHARS * 2 // 3))
        used += len(parts[-1])
    for member in _member_docs(module):
        if used + len(member) > DOCUMENT_CHARS:
            break
        parts.append(member)
        used += len(member)
    if used < MIN_MODULE_CHARS:
        return None
    body = _NOT_A_HEADING.sub(" #", "\n\n".join(parts[1:]))
    return ModuleDocument(name, f"{parts[0]}\n\n{body}\n")


def build_corpus(modules: tuple[str, ...] = MODULES) -> list[ModuleDocument]:
    """Every listed module that has enough documentation here, in the listed order."""
    documents = [doc for name in modules if (doc := module_document(name)) is not None]
    if len(documents) < MIN_MODULES:
        raise CorpusTooSmallError(
            f"only {len(documents)} of {len(modules)} standard-library modules have "
            f"docstrings here; the retrieval evaluation needs at least {MIN_MODULES}. "
            "Run it with a Python that keeps docstrings (not `python -OO`, not "
            "PYTHONOPTIMIZE=2)."
        )
    return documents


def write_corpus(directory: Path, modules: tuple[str, ...] = MODULES) -> list[Path]:
    """Write one `<module>.md` per documented module into `directory`; return the paths."""
    paths = []
    for doc in build_corpus(modules):
        path = directory / f"{doc.module}.md"
        path.write_text(doc.text, encoding="utf-8")
        paths.append(path)
    return paths
