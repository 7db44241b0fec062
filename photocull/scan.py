"""Find the photos of a shoot: walk folders, sniff file types, pair RAW+JPEG.

Why sniff: a camera card, a phone export or a careless rename can leave a PNG named
``.jpg`` or a text file among the photos. The extension says what the file claims to
be; the first bytes say what it is, and the writer must only ever trust the latter.
"""

from __future__ import annotations

import errno
import os
from dataclasses import dataclass, field
from pathlib import Path

from .inputs import formats
from .inputs.formats import sniff
from .records import FileError

# Sidecars are not photos but a photo's companions: passed over without a word.
SIDECAR_EXTS = {".xmp", ".pp3", ".dop", ".on1", ".cos", ".arp"}
VIDEO_EXTS = {".mov", ".mp4", ".m4v", ".avi", ".mts", ".m2ts", ".mkv", ".3gp", ".mpg", ".wmv", ".webm", ".lrv", ".thm"}


@dataclass(frozen=True)
class FoundFile:
    """A candidate photo: what the scan knows without decoding it."""

    path: Path
    fmt: str  # format by content (falls back to the extension for RAW containers)
    size: int
    mtime_ns: int
    companions: tuple[Path, ...] = ()  # e.g. the RAW beside a JPEG of the same stem


@dataclass
class ScanResult:
    files: list[FoundFile] = field(default_factory=list)
    errors: list[FileError] = field(default_factory=list)
    warnings: list[FileError] = field(default_factory=list)
    ignored: int = 0  # files that are not photos (documents, sidecars, ...)
    skipped: list[FileError] = field(default_factory=list)  # those of them named, with the reason (sidecars aside)


def skip_reason(path: Path) -> str | None:
    """Why a file whose extension no format claims is not culled (None: a sidecar, say nothing)."""
    suffix = path.suffix.lower()
    if suffix in SIDECAR_EXTS:
        return None
    if suffix in VIDEO_EXTS:
        return f"video ({suffix}): not culled"
    if not suffix:
        return "no file extension: not a photo format photocull reads"
    return f"{suffix} is not a photo format photocull reads"


def classify(path: Path, head: bytes) -> tuple[str | None, str | None]:
    """Return (format, warning) for a file, reconciling extension and content."""
    claimed_fmt = formats.by_extension(path.suffix)
    claimed = claimed_fmt.name if claimed_fmt else None
    actual = sniff(head)
    if claimed_fmt is not None and actual in (claimed, *claimed_fmt.containers):
        return claimed, None
    if actual is None:
        return None, None
    if claimed is not None and claimed != actual:
        return actual, f"named {path.suffix} but the content is {actual.upper()}; treated as {actual.upper()}"
    return actual, None


def _link_problem(link: Path, boundary: Path, follow_links: bool) -> str | None:
    """Why the link at ``link`` is not followed, or None to follow it.

    A card is untrusted: a link may lead anywhere (``up -> ..`` would hand the whole parent
    tree, other albums included, to the writer). Links that stay in the shoot are followed;
    those that leave it only with ``--follow-links``; a link to a folder above it never
    (it would walk back into itself).
    """
    try:
        target = link.resolve(strict=True)
    except FileNotFoundError:
        return None  # a broken link: reported by the caller
    except (RuntimeError, OSError) as exc:  # RuntimeError: a symlink loop before Python 3.13
        if isinstance(exc, RuntimeError) or exc.errno == errno.ELOOP:
            return "link loop: the link leads back to itself; skipped"
        raise
    if target.is_dir() and (target == link.parent.resolve() or target in link.parent.resolve().parents):
        return f"link loop: the link leads back to {target}, a folder that holds it; not followed"
    if not follow_links and target != boundary and boundary not in target.parents:
        return f"link leads outside the shoot (to {target}); not followed (use --follow-links to include it)"
    return None


def _walk(root: Path, recursive: bool, errors: list[FileError], warnings: list[FileError],
          follow_links: bool = False, exclude: frozenset[tuple[int, int]] = frozenset()):
    """Yield regular files under root; links leaving the shoot only with ``follow_links``; never
    loop; never enter a folder of ``exclude`` ((device, inode) of the picks and rejects folders)."""
    boundary = root.resolve()
    seen: set[tuple[int, int]] = set(exclude)
    stack = [root]
    while stack:
        folder = stack.pop()
        try:
            st = folder.stat()
        except OSError as exc:
            errors.append(FileError(folder, "scan", "folder cannot be read; check it exists and its permissions", str(exc)))
            continue
        key = (st.st_dev, st.st_ino)
        if key in seen:
            continue  # a second link to a folder already walked
        seen.add(key)
        try:
            entries = sorted(os.scandir(folder), key=lambda e: e.name)
        except OSError as exc:
            errors.append(FileError(folder, "scan", "folder cannot be listed; check its permissions", str(exc)))
            continue
        subfolders = []
        for entry in entries:
            if entry.name.startswith("."):
                continue  # hidden files, our own .photocull folder, temp files of atomic writes
            path = Path(entry.path)
            try:
                if entry.is_symlink():
                    problem = _link_problem(path, boundary, follow_links)
                    if problem:
                        warnings.append(FileError(path, "scan", problem))
                        continue
                if entry.is_dir(follow_symlinks=True):
                    if recursive:
                        subfolders.append(path)
                elif entry.is_file(follow_symlinks=True):
                    yield path
                elif entry.is_symlink():
                    errors.append(FileError(path, "scan", "broken link: its target does not exist"))
            except OSError as exc:
                if exc.errno == errno.ELOOP:
                    warnings.append(FileError(path, "scan", "link loop: the link leads back to itself; skipped"))
                else:
                    errors.append(FileError(path, "scan", "cannot be read; check its permissions", str(exc)))
        stack.extend(reversed(subfolders))


def scan(root: Path, recursive: bool = True, follow_links: bool = False, exclude: tuple[Path, ...] = ()) -> ScanResult:
    """Find every photo under ``root`` (a folder, or a single file).

    ``follow_links``: also follow links that lead outside ``root`` (off: they are warnings).
    ``exclude``: folders that are not part of the shoot wherever they are (the picks and
    rejects folders photocull copies and moves into): a re-run must not cull them again.
    """
    result = ScanResult()
    root = Path(root)
    skip = frozenset(_folder_key(p) for p in exclude) - {None, _folder_key(root)}  # culling a picks folder itself is fine
    paths = [root] if root.is_file() else list(_walk(root, recursive, result.errors, result.warnings, follow_links,
                                                     skip))  # type: ignore[arg-type]
    candidates: list[FoundFile] = []
    for path in paths:
        if formats.by_extension(path.suffix) is None:
            result.ignored += 1
            reason = skip_reason(path)
            if reason:
                result.skipped.append(FileError(path, "skip", reason))
            continue
        try:
            st = path.stat()
            if st.st_size == 0:
                result.errors.append(FileError(path, "scan", "empty file (0 bytes): the copy from the card may have failed"))
                continue
            with open(path, "rb") as fh:
                head = fh.read(32)
        except OSError as exc:
            result.errors.append(FileError(path, "scan", "cannot be read; check its permissions", str(exc)))
            continue
        fmt, warning = classify(path, head)
        if fmt is None:
            result.errors.append(
                FileError(path, "scan", f"not an image: named {path.suffix} but its content is no known photo format")
            )
            continue
        if warning:
            result.warnings.append(FileError(path, "scan", warning))
        candidates.append(FoundFile(path, fmt, st.st_size, st.st_mtime_ns))
    result.files = pair_companions(candidates)
    return result


def _folder_key(path: Path) -> tuple[int, int] | None:
    try:
        st = Path(path).stat()
    except OSError:
        return None
    return (st.st_dev, st.st_ino)


def pair_companions(files: list[FoundFile]) -> list[FoundFile]:
    """Merge files of one frame (same folder and stem: RAW+JPEG) into one FoundFile.

    The preferred file (JPEG first) is decoded; the others ride along as companions and
    are rated and moved together with it.
    """
    groups: dict[tuple[Path, str], list[FoundFile]] = {}
    for f in files:
        groups.setdefault((f.path.parent, f.path.stem.lower()), []).append(f)
    out: list[FoundFile] = []
    for members in groups.values():
        members.sort(key=lambda f: (formats.FORMATS[f.fmt].preference if f.fmt in formats.FORMATS else 9, f.path.name))
        main, rest = members[0], members[1:]
        if rest and {m.fmt for m in members} & {"raw"}:
            out.append(FoundFile(main.path, main.fmt, main.size, main.mtime_ns, tuple(m.path for m in rest)))
        else:
            out.extend(members)  # e.g. IMG_1.jpg and IMG_1.png: two different frames
    out.sort(key=lambda f: str(f.path))
    return out
