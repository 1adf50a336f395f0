"""Unpack a phase dataset that an organizer uploads as a zip (the official layout).

Only `img/`, `mask/` and `background-mask/` PNGs are taken, at the root or under one
top-level folder; anything else is ignored. Names are never used as paths beyond their
folder and file name, and the sizes are capped before anything is inflated.
"""

import re
import shutil
import zipfile
import zlib
from pathlib import Path

from app.errors import InvalidInput

MAX_MEMBERS = 2_000
MAX_TOTAL_BYTES = 4 << 30
_MEMBER = re.compile(r"^(?:[^/]+/)?(img|mask|background-mask)/([A-Za-z0-9_.-]+\.png)$")


def unpack_dataset(archive: Path, target: Path) -> Path:
    """Extract the dataset's PNGs into `target` (created); return `target`."""
    try:
        with zipfile.ZipFile(archive) as handle:
            members = handle.infolist()
            if len(members) > MAX_MEMBERS:
                raise InvalidInput({"dataset": f"the zip holds more than {MAX_MEMBERS} entries"})
            wanted = [(m, _MEMBER.match(m.filename)) for m in members if not m.is_dir()]
            chosen = [(m, match) for m, match in wanted if match is not None]
            if sum(m.file_size for m, _ in chosen) > MAX_TOTAL_BYTES:
                raise InvalidInput({"dataset": "the images inflate to more than 4 GiB"})
            if not any(match.group(1) == "mask" for _, match in chosen):
                raise InvalidInput(
                    {
                        "dataset": "no mask/*.png found; zip the img/, mask/ and "
                        "background-mask/ folders of the split"
                    }
                )
            target.mkdir(parents=True)
            for member, match in chosen:
                folder = target / match.group(1)
                folder.mkdir(exist_ok=True)
                with handle.open(member) as source, (folder / match.group(2)).open("wb") as out:
                    shutil.copyfileobj(source, out, 1 << 20)
    except (zipfile.BadZipFile, zlib.error) as error:
        raise InvalidInput({"dataset": f"not a readable zip archive ({error})"}) from None
    return target
