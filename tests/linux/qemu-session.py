#!/usr/bin/env python3
"""Drives the Linux guest through a whole session on QEMU (or on Rewind),
as the integration tests will: boot to the shell, mount the ext2 test disk
(raw or qcow2), read and write files, configure the network and fetch from
a TCP server on the host, serve a connection through a hostfwd, read
virtio-rng, load, exercise and unload the test module, power off.

    tests/linux/qemu-session.py [--qcow2] [--modern] [--smp N]
                                [--emulator qemu|rewind] [--transcript FILE]

--modern runs QEMU's virtio-mmio in its modern (version 2) layout, the one
Rewind has (QEMU 7.2 defaults to the legacy one). Exits 0 when every check
passed; prints the console transcript with --verbose or on failure.
This is a developer's check of the guest, not part of the test suite.
"""
import argparse
import hashlib
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "scripts"))
from guest_console import GuestConsole, ConsoleTimeout  # noqa: E402

HELLO = "hello from the rewind test disk"
SERVER_TEXT = "rewind fetch test: 0123456789abcdef"


def fnv1a32(s):
    h = 2166136261
    for b in s.encode():
        h = ((h ^ b) * 16777619) & 0xFFFFFFFF
    return h


def xorshift32(x):
    x ^= (x << 13) & 0xFFFFFFFF
    x ^= x >> 17
    x ^= (x << 5) & 0xFFFFFFFF
    return x


def module_line(reads, word="rewind", seed=1):
    fnv = fnv1a32(word)
    x = seed ^ fnv
    for _ in range(reads):
        x = xorshift32(x)
    return f"rewind_test: reads={reads} word={word} seed={seed} fnv=0x{fnv:08x} value=0x{x:08x}"


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Server(threading.Thread):
    """One-connection TCP server on 127.0.0.1: reads a line, sends TEXT,
    closes; remembers what it received."""

    def __init__(self, text):
        super().__init__(daemon=True)
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(1)
        self.port = self.sock.getsockname()[1]
        self.text = text
        self.received = b""

    def run(self):
        conn, _ = self.sock.accept()
        with conn:
            conn.settimeout(30)
            while not self.received.endswith(b"\n"):
                chunk = conn.recv(4096)
                if not chunk:
                    break
                self.received += chunk
            conn.sendall(self.text.encode() + b"\n")


class Console(GuestConsole):
    """The guest's tty turns "\n" into "\r\n"; the checks want plain "\n"."""

    def _read(self, timeout):
        n = len(self.output)
        r = super()._read(timeout)
        if r:
            self.output = self.output[:n] + self.output[n:].replace(b"\r", b"")
        return r


class Shell:
    def __init__(self, console):
        self.c = console

    def wait_prompt(self, timeout=120):
        self.c.expect("rewind-linux$ ", timeout)

    def run(self, line, timeout=60, ok=True):
        """Types a command at the prompt; returns its output (the lines
        between the echoed command and the final ok/error line)."""
        self.c.sendline(line)
        self.c.expect(line + "\n", timeout)
        pat = re.compile(rb"rewind-linux: (ok|error[^\n]*)\n")
        deadline = time.monotonic() + timeout
        while True:
            m = pat.search(self.c.output, self.c.pos)
            if m:
                break
            if time.monotonic() > deadline or self.c._read(0.5) is None:
                raise ConsoleTimeout(f"no ok/error after {line!r}:\n{self.c.text()[-2000:]}")
        out = self.c.output[self.c.pos:m.start()].decode(errors="replace")
        self.c.pos = m.end()
        status = m.group(1).decode()
        if ok and status != "ok":
            raise AssertionError(f"{line!r} failed: {status}\n{out}")
        if not ok and status == "ok":
            raise AssertionError(f"{line!r} should have failed:\n{out}")
        self.wait_prompt(timeout)
        return out if ok else status


def check(cond, what):
    if not cond:
        raise AssertionError(what)
    print(f"  ok: {what}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--qcow2", action="store_true", help="boot with the qcow2 disk")
    ap.add_argument("--modern", action="store_true", help="virtio-mmio version 2 (QEMU)")
    ap.add_argument("--smp", type=int, default=1)
    ap.add_argument("--emulator", choices=["qemu", "rewind"], default="qemu")
    ap.add_argument("--verbose", "-v", action="store_true")
    ap.add_argument("--transcript", help="write the console transcript here")
    args = ap.parse_args()

    paths = dict(line.split("=", 1) for line in subprocess.run(
        [os.path.join(ROOT, "scripts/build-linux-guest"), "-q"], check=True,
        capture_output=True, text=True).stdout.split("\n") if "=" in line)
    tmp = tempfile.mkdtemp(prefix="rewind-linux-")
    raw, qcow = os.path.join(tmp, "disk.img"), os.path.join(tmp, "disk.qcow2")
    subprocess.run([os.path.join(ROOT, "scripts/make-test-disk"), "--qcow2", qcow, raw],
                   check=True, stdout=subprocess.DEVNULL)
    disk, fmt = (qcow, "qcow2") if args.qcow2 else (raw, "raw")
    before = hashlib.sha256(open(disk, "rb").read()).hexdigest()

    server = Server(SERVER_TEXT)
    server.start()
    fwd_port = free_port()
    append = "console=ttyS0 rewind.shell"
    if args.emulator == "qemu":
        argv = ["qemu-system-riscv64", "-M", "virt", "-m", "256M", "-smp", str(args.smp),
                "-nographic", "-bios", "default"]
        if args.modern:
            argv += ["-global", "virtio-mmio.force-legacy=false"]
        # On QEMU's virt board if=virtio and -nic mean PCI devices (and
        # -nic model=virtio-net-device makes none): name the virtio-mmio
        # ones. Rewind has no PCI; its if=virtio and -nic are virtio-mmio.
        argv += ["-kernel", paths["IMAGE"], "-initrd", paths["INITRAMFS"], "-append", append,
                 "-drive", f"file={disk},format={fmt},if=none,id=hd0",
                 "-device", "virtio-blk-device,drive=hd0",
                 "-netdev", f"user,id=n0,hostfwd=tcp:127.0.0.1:{fwd_port}-:7777",
                 "-device", "virtio-net-device,netdev=n0",
                 "-device", "virtio-rng-device"]
    else:
        argv = [os.path.join(ROOT, "build/rewind"), "run", "-m", "256M", "-smp", str(args.smp),
                "-kernel", paths["IMAGE"], "-initrd", paths["INITRAMFS"], "-append", append,
                "-drive", f"file={disk},format={fmt},if=virtio",
                "-nic", f"user,hostfwd=tcp:127.0.0.1:{fwd_port}-:7777",
                "-device", "virtio-rng"]
    print(" ".join(argv))
    c = Console(argv)
    sh = Shell(c)
    t0 = time.monotonic()
    try:
        c.expect("rewind-linux: init started", 180)
        print(f"  ok: banner after {time.monotonic() - t0:.1f}s")
        sh.wait_prompt()
        check("virtio_rng.0" in sh.run("cat /sys/class/misc/hw_random/rng_current"),
              "rng_current is virtio_rng.0")
        out = sh.run("mount /dev/vda /mnt")
        check("mounted /dev/vda on /mnt type ext2" in out, "mount /dev/vda")
        check("f 32 hello.txt" in sh.run("ls /mnt"), "ls shows hello.txt")
        check(sh.run("cat /mnt/hello.txt") == HELLO + "\n", "cat hello.txt")
        check("wrote 21 bytes to /mnt/new.txt" in sh.run("write /mnt/new.txt written by  the guest"),
              "write new.txt")
        sh.run("sync")
        sh.run("umount /mnt")
        sh.run("mount /dev/vda /mnt ext2 ro")
        check(sh.run("cat /mnt/new.txt") == "written by the guest\n", "new.txt after remount")
        sh.run("umount /mnt")
        check("error umount: Invalid argument" in sh.run("umount /mnt", ok=False), "umount twice fails")

        out = sh.run("net-up")
        check(re.search(r"rewind-linux: eth0 10\.0\.2\.15/24 gateway 10\.0\.2\.2 mac [0-9a-f:]{17}\n", out),
              "net-up")
        out = sh.run(f"fetch 10.0.2.2 {server.port} GET /hello")
        check(SERVER_TEXT + "\n" in out and "rewind-linux: received 36 bytes" in out,
              "fetch from the host's server")
        server.join(5)
        check(server.received == b"GET /hello\n", "the server got the guest's line")

        # serve: the host connects through the hostfwd once the guest listens.
        sh.c.sendline("serve 7777 hello host")
        sh.c.expect("rewind-linux: listening on port 7777", 30)
        with socket.create_connection(("127.0.0.1", fwd_port), timeout=30) as s:
            s.sendall(b"hello guest\n")
            s.shutdown(socket.SHUT_WR)
            got = b""
            while True:
                chunk = s.recv(4096)
                if not chunk:
                    break
                got += chunk
        check(got == b"hello host\n", "serve: the host got the guest's text")
        sh.c.expect("hello guest\nrewind-linux: received 12 bytes\nrewind-linux: ok\n", 30)
        sh.wait_prompt()

        out = sh.run("random 16").strip()
        check(re.fullmatch(r"[0-9a-f]{32}", out), f"random 16: {out}")
        check(sh.run("random 16").strip() != out, "random differs the second time")

        out = sh.run("insmod /lib/modules/rewind_test.ko")
        for n in (1, 2):
            check(sh.run("cat /proc/rewind_test") == module_line(n) + "\n", f"module read {n}")
        check(sh.run("cat /sys/module/rewind_test/parameters/word") == "rewind\n", "module parameter")
        sh.run("rmmod rewind_test")
        check("unloaded after 2 reads" in sh.c.text(), "module unload message")
        sh.run("insmod /lib/modules/rewind_test.ko word=hello seed=42")
        check(sh.run("cat /proc/rewind_test") == module_line(1, "hello", 42) + "\n",
              "module with parameters")
        sh.run("rmmod rewind_test")
        check("error rmmod" in sh.run("rmmod rewind_test", ok=False), "rmmod twice fails")
        check("error nosuch: unknown command" in sh.run("nosuch", ok=False), "unknown command")
        sh.run("date")
        sh.c.sendline("poweroff")
        c.expect("reboot: Power down", 30)
        rc = c.wait(30)
        print(f"  ok: powered off, exit status {rc}, {time.monotonic() - t0:.1f}s in all")
    except Exception:
        print(c.text())
        c.close()
        raise
    if args.verbose:
        print(c.text())
    if args.transcript:
        open(args.transcript, "w").write(c.text())
    after = hashlib.sha256(open(disk, "rb").read()).hexdigest()
    if args.qcow2:
        # QEMU writes qcow2 images; `rewind run` keeps writes to a qcow2
        # image in memory (docs/disks.md).
        if args.emulator == "rewind":
            check(after == before, "the qcow2 image is unchanged")
    else:
        # A raw image is written in place by QEMU and by `rewind run`
        # (record and replay never write it): the guest's file is there.
        dump = subprocess.run(["/sbin/debugfs", "-R", "cat /new.txt", raw],
                              capture_output=True, text=True).stdout
        check(dump == "written by the guest\n", "new.txt is in the raw image")
    shutil.rmtree(tmp)


if __name__ == "__main__":
    main()
