# Run inside the walkthrough's 01-build kernel (exec'd with the notebook's `s`): real cheap work for the progress
# widget. Two throwaway images from scratch on the real Docker engine, through the same widget and the same
# "image i of n" / "Step x/y" counting as the app build, without building the app images (those need the lock).
import io
import tarfile

import docker

from todo_runbook.progress import phase


def _context(files: int) -> io.BytesIO:
    lines = ["FROM scratch"] + [f"COPY f{i}.txt /f{i}.txt" for i in range(files)]
    members = {"Dockerfile": "\n".join(lines).encode(), **{f"f{i}.txt": f"{i}\n".encode() for i in range(files)}}
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    buffer.seek(0)
    return buffer


_client = docker.from_env()
_about = "building 2 throwaway images from scratch (the browser test's stand-in for the app build; same widget)"
with s.progress("tiny build", about=_about) as _progress:  # noqa: F821 (the notebook's session)
    for _index, _tag in enumerate(("todo-lab-test-a:latest", "todo-lab-test-b:latest"), start=1):
        phase(_progress, _index, 2, "image", _tag)
        for _chunk in _client.api.build(fileobj=_context(14), custom_context=True, tag=_tag, nocache=True, rm=True,
                                        decode=True):
            for _line in str(_chunk.get("stream", "")).splitlines():
                if _line.strip():
                    _progress(_line)
