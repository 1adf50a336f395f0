"""`make demo`: a complete WSSS4LUAD challenge site on the embedded defaults.

Builds the synthetic dataset, a fresh SQLite database with the WSSS4LUAD challenge
(Validation and Test phases), an organizer, a participant and a few rival teams with
submissions, then runs the site and a scoring worker until Ctrl-C. Nothing needs a
server: the database is SQLite and the Celery broker is a folder, both under DIR.
"""

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

from rich.console import Console

from app.config import Settings
from app.db import make_engine, make_sessionmaker, transaction, utcnow
from app.devtools.demo_data import make_demo_data
from app.migrate import upgrade
from app.queue import TaskSender, make_celery
from app.services import accounts as accounts_service
from app.services import challenges as challenges_service
from app.services import submissions as submissions_service
from app.services import teams as teams_service
from app.services.storage import LocalStorage

ORGANIZER = ("organizer@demo.wsss4luad.org", "organizer-demo-1")
PARTICIPANT = ("participant@demo.wsss4luad.org", "participant-demo-1")
RIVALS = (
    ("CAM Crew", "cam@demo.wsss4luad.org", 0.10),
    ("Stain Normalizers", "stain@demo.wsss4luad.org", 0.22),
    ("Patch Partners", "patch@demo.wsss4luad.org", 0.35),
)

DESCRIPTION = """\
Lung adenocarcinoma is the most common type of lung cancer. Pixel-level annotation of
H&E slides is expensive, so this challenge asks for **weakly-supervised** segmentation:
train on patches labelled only with the tissue types they contain, then predict a mask
for every pixel of larger images.

Three tissue classes are evaluated: **tumor epithelium**, **tumor-associated stroma** and
**normal tissue**. Background (white alveolar space) is excluded.

### Evaluation

One confusion matrix is accumulated over all evaluated pixels of all images of a phase.
IoU is computed per class and **mIoU** is their mean; this is the ranking score. The
published winner of WSSS4LUAD scored 0.8413 on the test set.

*This is a demo with synthetic data generated on your machine.*
"""

RULES = """\
1. Train only on the challenge training data; ImageNet-pretrained weights are allowed.
2. One account per person; teams register once and limits count per team.
3. Submissions are zip files of PNG masks named like the images, one per image.
4. The Validation phase is for development; the Test phase decides the ranking.
"""

DATA = """\
- `1.training/`: patches named `PATIENT-X-Y-[tumor, stroma, normal].png`, labels only.
- `2.validation/` and `3.testing/`: `img/` (H&E) and `background-mask/` (1 = background).

Masks hold indices 0 tumor, 1 stroma, 2 normal, 3 background, in 8-bit P or L PNGs.
"""


def free_port(preferred: int) -> int:
    """Return `preferred` when it is free, otherwise any free port."""
    for candidate in (preferred, 0):
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", candidate))
            except OSError:
                continue
            return int(probe.getsockname()[1])
    raise RuntimeError("no free port")


def seed(settings: Settings, dataset: Path) -> None:
    """Create the challenge, its phases, the accounts and the demo submissions."""
    upgrade(settings.database_url)
    engine = make_engine(settings.database_url)
    sessions = make_sessionmaker(engine)
    storage = LocalStorage(settings.data_dir)
    tasks = TaskSender(make_celery(settings))
    now = utcnow()
    with transaction(sessions) as session:
        validation = challenges_service.import_phase(
            session=session,
            storage=storage,
            challenge_slug="wsss4luad",
            phase_slug="validation",
            dataset_dir=dataset / "2.validation",
            title="Validation",
            starts_at=now - timedelta(days=7),
            ends_at=now + timedelta(days=21),
            daily_limit=5,
        ).phase
        test = challenges_service.import_phase(
            session=session,
            storage=storage,
            challenge_slug="wsss4luad",
            phase_slug="test",
            dataset_dir=dataset / "3.testing",
            title="Test",
            starts_at=now - timedelta(days=1),
            ends_at=now + timedelta(days=28),
            daily_limit=3,
            total_limit=20,
        ).phase
        challenges_service.configure_phase(
            session=session, phase=test, visibility="after_end", show_details=False
        )
        challenge = validation.challenge
        challenges_service.describe_challenge(
            challenge=challenge,
            title="WSSS4LUAD",
            summary=(
                "Weakly-supervised tissue semantic segmentation for lung adenocarcinoma: "
                "tumor, stroma and normal tissue from patch-level labels."
            ),
            description_md=DESCRIPTION,
            rules_md=RULES,
            data_md=DATA,
        )
        organizer = accounts_service.create_user(
            session=session,
            email=ORGANIZER[0],
            password=ORGANIZER[1],
            display_name="Demo Organizer",
            affiliation="WSSS4LUAD organizers",
            country="CN",
        )
        challenges_service.add_organizer(session=session, challenge=challenge, user=organizer)
        participant = accounts_service.create_user(
            session=session,
            email=PARTICIPANT[0],
            password=PARTICIPANT[1],
            display_name="Demo Participant",
            affiliation="Demo University",
            country="DE",
        )
        teams_service.register_team(
            session=session,
            challenge=challenge,
            user=participant,
            name="Pathology Pixels",
            accept_rules=True,
        )
        for name, email, damage in RIVALS:
            user = accounts_service.create_user(
                session=session,
                email=email,
                password=f"{name.lower().replace(' ', '-')}-demo",
                display_name=name.split()[0],
                affiliation="Demo Lab",
                country="US",
            )
            teams_service.register_team(
                session=session, challenge=challenge, user=user, name=name, accept_rules=True
            )
            for attempt, extra in enumerate((0.08, 0.0)):
                archive = write_prediction(
                    dataset / "2.validation", storage.scratch_dir(), damage + extra, attempt
                )
                submissions_service.create_submission(
                    session=session,
                    storage=storage,
                    phase=validation,
                    user=user,
                    upload=archive,
                    archive_name=f"{name.lower().replace(' ', '-')}-v{attempt + 1}.zip",
                    sha256="",
                    method_name=f"CAM pseudo-labels v{attempt + 1}",
                    enqueue=tasks.score,
                )
    engine.dispose()


def write_prediction(split: Path, scratch: Path, damage: float, seed_value: int) -> Path:
    """Zip a prediction of a split: its truth with blocks relabelled (`damage` of them)."""
    import zipfile

    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(seed_value + int(damage * 1000))
    archive = scratch / f"demo-{damage:.2f}-{seed_value}.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as handle:
        for mask_path in sorted((split / "mask").glob("*.png")):
            mask = np.asarray(Image.open(mask_path))
            prediction = np.where(mask == 3, 0, mask).astype(np.uint8)
            blocks = rng.random((mask.shape[0] // 16 + 1, mask.shape[1] // 16 + 1)) < damage
            wrong = np.kron(blocks, np.ones((16, 16), dtype=bool))[: mask.shape[0], : mask.shape[1]]
            prediction[wrong] = (prediction[wrong] + 1) % 3
            staged = scratch / f".{mask_path.name}"
            Image.fromarray(prediction, "L").save(staged)
            handle.write(staged, mask_path.name)
            staged.unlink()
    return archive


def add_baseline(
    command: list[str], env: dict[str, str], dataset: Path, site_dir: Path, console: Console
) -> None:
    """Train, register and queue the tiny MLPS baseline with the project's own CLI.

    Needs the [baseline] extra (torch); without it the demo runs without a baseline row.
    """
    checkpoint = site_dir / "mlps-tiny.pt"
    steps = [
        [
            *("baseline", "train", str(dataset / "1.training"), "--out", str(checkpoint)),
            *("--preset", "tiny", "--device", "cpu"),
        ],
        ["baseline", "register", "wsss4luad", str(checkpoint), "--name", "MLPS (organizers)"],
        ["baseline", "run", "wsss4luad", "validation"],
    ]
    for step in steps:
        done = subprocess.run([*command, *step], env=env, capture_output=True, text=True)
        if done.returncode != 0:
            console.print(
                "[yellow]No baseline row:[/] "
                f"`wsss4luad {' '.join(step[:2])}` failed:\n{done.stderr.strip()[-800:]}"
            )
            return
    console.print(f"  {done.stdout.strip()}", highlight=False)


def main(root: Path) -> None:
    """Build everything under `root` and run the site until interrupted."""
    console = Console()
    site_dir = (root / "site").resolve()
    if site_dir.exists():
        shutil.rmtree(site_dir)
    console.print("[bold]1/4[/] Generating the synthetic WSSS4LUAD dataset ...")
    summary = make_demo_data(root / "data", seed=0, scale="small")
    port = free_port(int(os.environ.get("DEMO_PORT", "8000")))
    base_url = f"http://127.0.0.1:{port}"
    settings = Settings(data_dir=site_dir, base_url=base_url)
    console.print("[bold]2/4[/] Creating the database, the challenge and the demo teams ...")
    seed(settings, summary.root)
    env = {k: v for k, v in os.environ.items() if not k.startswith("WSSS4LUAD_")}
    env.update(
        WSSS4LUAD_DATA_DIR=str(site_dir),
        WSSS4LUAD_BASE_URL=base_url,
        WSSS4LUAD_EMAIL_BACKEND="file",
    )
    command = [str(Path(sys.executable).parent / "wsss4luad")]
    console.print("[bold]3/4[/] Training the tiny MLPS baseline on the demo patches (CPU) ...")
    add_baseline(command, env, summary.root, site_dir, console)
    console.print("[bold]4/4[/] Starting the site and a worker (scoring and baseline queues) ...")
    processes = [
        subprocess.Popen([*command, "serve", "--port", str(port)], env=env),
        subprocess.Popen(
            [
                *(*command, "worker", "--queues", "scoring,default,gpu", "--beat"),
                *("--concurrency", "2", "--loglevel", "WARNING"),
            ],
            env=env,
        ),
    ]
    time.sleep(2)
    console.print(
        f"\n[bold green]The demo site runs at {base_url}[/]\n"
        f"  organizer:   {ORGANIZER[0]} / {ORGANIZER[1]}  (console: {base_url}/organizer)\n"
        f"  participant: {PARTICIPANT[0]} / {PARTICIPANT[1]}  (team Pathology Pixels)\n"
        f"  a demo submission to try: {root.resolve() / 'data'}/2.validation/mask as a zip,"
        " or any zip of masks\n"
        f"  emails (password resets) land in {site_dir / 'outbox'}\n"
        "Press Ctrl-C to stop."
    )
    stop = False

    def request_stop(*_: object) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    while not stop and all(process.poll() is None for process in processes):
        time.sleep(0.5)
    for process in processes:
        if process.poll() is None:
            process.terminate()
    for process in processes:
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "var/demo"))
