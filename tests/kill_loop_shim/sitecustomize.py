"""Put on PYTHONPATH by scripts/kill_loop.py only: with RDROP_SLOW_COPY_S set, fairseq's
PathManager.copy (how fairseq 0.12 copies a save to checkpoint_last.pt) copies in
16 KB chunks with that many seconds between them and prints ``slow-copy: start``
first, so that a SIGKILL can land inside the copy on purpose."""

import os

if os.environ.get("RDROP_SLOW_COPY_S"):
    import shutil
    import sys
    import time

    from fairseq.file_io import PathManager

    def _slow_copy(src_path, dst_path, overwrite=False):
        if os.path.exists(dst_path) and not overwrite:
            return False
        print(f"slow-copy: start {dst_path}", file=sys.stderr, flush=True)
        pause = float(os.environ["RDROP_SLOW_COPY_S"])
        with open(src_path, "rb") as src, open(dst_path, "wb") as dst:
            while True:
                chunk = src.read(1 << 14)
                if not chunk:
                    break
                dst.write(chunk)
                dst.flush()
                time.sleep(pause)
        shutil.copymode(src_path, dst_path)
        return True

    PathManager.copy = staticmethod(_slow_copy)
