"""Linux on Rewind (issue 5, docs/devices.md): the kernel and initramfs of
scripts/build-linux-guest boot to the init banner and power off with -smp 1
and 2; a recorded session reads files from a raw and a qcow2 disk, writes
to one (the images stay unchanged), fetches data from a TCP server on the
host's loopback through slirp, reads random bytes and loads a module; the
replay prints the same console output twice; gdb-multiarch with vmlinux
debugs the replay, backwards too, and the kernel's own lx-* scripts work.

Marked `linux` (run alone with `pytest -m linux tests/integration`). The
guest is built once per machine (about five minutes) and cached."""
import hashlib
import os
import re
import socket
import subprocess
import threading
import time

import pytest

from conftest import ROOT
from gdb_driver import Gdb, tcp_listening
from guest_console import GuestConsole

pytestmark = pytest.mark.linux

BANNER = "rewind-linux: init started"
PROMPT = "rewind-linux$ "
OK = "rewind-linux: ok"


@pytest.fixture(scope="session")
def linux():
    """IMAGE, VMLINUX, INITRAMFS of the cached guest (built if needed). A
    failing build fails the tests: ./rewind.sh test installs what it needs."""
    p = subprocess.run([os.path.join(ROOT, "scripts", "build-linux-guest"), "-q"],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=3600)
    assert p.returncode == 0, "scripts/build-linux-guest failed:\n" + p.stderr.decode()[-3000:]
    out = dict(line.split("=", 1) for line in p.stdout.decode().splitlines() if "=" in line)
    for k in ("IMAGE", "VMLINUX", "INITRAMFS"):
        assert os.path.exists(out[k]), out
    return out


@pytest.fixture
def disks(tmp_path):
    """A raw ext2 image and its qcow2 twin, each with /hello.txt."""
    raw = str(tmp_path / "disk.raw")
    qcow2 = str(tmp_path / "disk.qcow2")
    p = subprocess.run([os.path.join(ROOT, "scripts", "make-test-disk"), "--qcow2", qcow2, raw],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=120)
    assert p.returncode == 0, p.stderr.decode()
    return raw, qcow2


def sha256(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def boot_args(linux, smp=1, append="console=ttyS0"):
    return ["-m", "256M", "-smp", str(smp), "-kernel", linux["IMAGE"],
            "-initrd", linux["INITRAMFS"], "-append", append]


@pytest.mark.parametrize("smp", [1, 2])
def test_boots_to_banner_and_powers_off(rewind, linux, smp):
    p = subprocess.run([rewind, "run", *boot_args(linux, smp)], stdin=subprocess.DEVNULL,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=120)
    out = p.stdout.decode(errors="replace")
    assert p.returncode == 0, out[-3000:]
    assert BANNER in out
    assert f"rewind-linux: cpus online: {'0' if smp == 1 else '0-1'}" in out
    assert "reboot: Power down" in out


class Server:
    """A TCP server on the host's loopback: sends a known text to each
    client (the guest reaches it at 10.0.2.2:PORT through slirp)."""
    TEXT = b"greetings from the host, served over slirp\n"

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(4)
        self.port = self.sock.getsockname()[1]
        self.clients = 0
        threading.Thread(target=self.serve, daemon=True).start()

    def serve(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            self.clients += 1
            with c:
                c.sendall(self.TEXT)

    def close(self):
        self.sock.close()


def command(con, line, timeout=60):
    """Types a shell command; returns its output up to its ok line (kernel
    messages may be mixed in)."""
    con.expect(PROMPT, timeout=timeout)
    con.sendline(line)
    con.expect(line, timeout=timeout)      # the shell's echo (the tty ends lines with \r\n)
    con.expect("\n", timeout=timeout)
    out = ""
    while True:
        out += con.expect("rewind-linux: ", timeout=timeout)
        rest = con.expect("\n", timeout=timeout)
        if rest.strip() == "ok":
            return out
        assert not rest.startswith("error"), f"{line!r} failed: {rest.strip()}\n{out}"
        out += "rewind-linux: " + rest + "\n"


def test_recorded_session_with_disks_network_rng_and_module(rewind, linux, disks, tmp_path,
                                                          free_port):
    raw, qcow2 = disks
    sums = {raw: sha256(raw), qcow2: sha256(qcow2)}
    server = Server()
    bundle = str(tmp_path / "session.bundle")
    con = GuestConsole([rewind, "record", "-o", bundle, "--snapshot-every", "10M",
                        *boot_args(linux, 2, "console=ttyS0 rewind.shell"),
                        "-drive", f"file={raw},format=raw,if=virtio",
                        "-drive", f"file={qcow2},format=qcow2,if=virtio",
                        "-nic", f"user,hostfwd=tcp:127.0.0.1:{free_port}-:7777",
                        "-device", "virtio-rng"])
    try:
        con.expect(BANNER, timeout=120)
        # the drives are vda (raw) and vdb (qcow2)
        command(con, "mount /dev/vda /mnt")
        assert "hello from the rewind test disk" in command(con, "cat /mnt/hello.txt")
        command(con, "write /mnt/written.txt written by the guest")
        command(con, "sync")
        assert "written by the guest" in command(con, "cat /mnt/written.txt")
        command(con, "umount /mnt")
        command(con, "mount /dev/vdb /mnt")
        assert "hello from the rewind test disk" in command(con, "cat /mnt/hello.txt")
        command(con, "umount /mnt")
        command(con, "net-up")
        out = command(con, f"fetch 10.0.2.2 {server.port}")
        assert Server.TEXT.decode().strip() in out
        # the other way: the host connects to a port forwarded into the guest
        con.expect(PROMPT)
        con.sendline("serve 7777 hello from the guest")
        con.expect("listening on port 7777", timeout=60)
        with socket.create_connection(("127.0.0.1", free_port), timeout=60) as c:
            c.sendall(b"hello from the host\n")
            c.shutdown(socket.SHUT_WR)
            got = b""
            while chunk := c.recv(4096):
                got += chunk
        assert got == b"hello from the guest\n"
        assert "hello from the host" in con.expect("rewind-linux: ok", timeout=60)
        rnd = command(con, "random 32")
        assert re.search(r"[0-9a-f]{64}", rnd), rnd
        out = command(con, "insmod /lib/modules/rewind_test.ko")
        out += command(con, "cat /proc/rewind_test")
        command(con, "rmmod rewind_test")
        con.expect(PROMPT)
        con.sendline("poweroff")
        con.expect("reboot: Power down", timeout=60)
        assert con.proc.wait(timeout=60) == 0
    finally:
        server.close()
        if con.proc.poll() is None:
            con.proc.kill()
    recorded = con.output
    assert server.clients == 1
    # the images are inputs of the recording: never written
    for path, digest in sums.items():
        assert sha256(path) == digest, path
    assert os.path.exists(os.path.join(bundle, "disk0.overlay"))
    info = subprocess.run([rewind, "info", bundle], stdout=subprocess.PIPE).stdout.decode()
    for ev in ("net ", "rng ", "char "):
        assert ev in info, info

    # replay twice: the same console output, no network, images untouched
    for _ in range(2):
        p = subprocess.run([rewind, "replay", bundle], stdin=subprocess.DEVNULL,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=300)
        assert p.returncode == 0, p.stderr.decode()[-2000:]
        assert p.stdout == recorded
        assert b"replay: end of recording" in p.stderr
    assert server.clients == 1
    for path, digest in sums.items():
        assert sha256(path) == digest, path

    # the periodic snapshots (disks, network and rng devices in them): a
    # replay from any ends exactly as the recording did
    snaps = os.path.join(bundle, "snapshots.qcow2")
    chk = subprocess.run(["qemu-img", "check", snaps], capture_output=True, text=True)
    assert chk.returncode == 0 and "No errors" in chk.stdout, chk.stdout + chk.stderr
    listing = subprocess.run([rewind, "snapshot", "list", bundle], capture_output=True,
                             text=True).stdout
    names = re.findall(r"^\d+\s+(periodic-\d+)\s", listing, re.M)
    assert len(names) >= 4, listing
    for name in (names[1], names[len(names) // 2], names[-1]):
        p = subprocess.run([rewind, "replay", bundle, "-loadvm", name],
                           stdin=subprocess.DEVNULL, capture_output=True, timeout=300)
        assert p.returncode == 0, (name, p.stderr.decode()[-2000:])
        assert b"diverged" not in p.stderr
        assert recorded.endswith(p.stdout), name
        assert b"replay: end of recording" in p.stderr


@pytest.fixture
def linux_bundle(rewind, linux, tmp_path):
    """A recorded boot that opens files (init mounts and reads /proc)."""
    bundle = str(tmp_path / "boot.bundle")
    p = subprocess.run([rewind, "record", "-o", bundle, *boot_args(linux, 1),
                        "-device", "virtio-rng"],
                       stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=120)
    assert p.returncode == 0, p.stderr.decode()
    return bundle


def test_gdb_on_linux_replay(rewind, linux, linux_bundle, gdb_multiarch, free_port):
    srv = subprocess.Popen([rewind, "replay", linux_bundle, "-S", "-gdb",
                            f"tcp::{free_port}"], stdin=subprocess.DEVNULL,
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    for _ in range(100):
        if tcp_listening(free_port):
            break
        time.sleep(0.1)
    # the kernel's lx-* commands load from the cached kernel tree
    tree = os.path.dirname(os.path.realpath(linux["VMLINUX"]))
    gdb = Gdb(linux["VMLINUX"], gdb=gdb_multiarch,
              extra_args=["-iex", f"add-auto-load-safe-path {tree}"])
    try:
        gdb.connect(f":{free_port}")
        gdb.cmd("break do_sys_openat2")
        gdb.run("continue", timeout=120)
        assert "do_sys_openat2" in gdb.cmd("frame")
        bt = gdb.cmd("bt")
        assert re.search(r"#1 .*(sys_openat|do_sys_open)", bt), bt
        pc = gdb.pc()
        gdb.run("stepi")
        gdb.run("stepi")
        gdb.run("reverse-stepi")
        gdb.run("reverse-stepi")
        assert gdb.pc() == pc
        # forward to the next open, then back to this one
        gdb.run("continue", timeout=120)
        assert gdb.pc() == pc
        icount_next = gdb.cmd("monitor info replay")
        gdb.run("reverse-continue", timeout=120)
        assert gdb.pc() == pc
        assert gdb.cmd("monitor info replay") != icount_next
        dmesg = gdb.cmd("lx-dmesg", timeout=120)
        assert "Linux version 6.1" in dmesg, dmesg[-2000:]
        ps = gdb.cmd("lx-ps", timeout=120)
        assert "swapper" in ps and "init" in ps, ps
    finally:
        gdb.close()
        srv.kill()
        srv.wait()


def test_reverse_over_disk_writes(rewind, linux, disks, tmp_path, gdb_multiarch, free_port):
    """Going back to the start of a recording that wrote to the disk puts
    the disk back too: run forward again and the kernel (which reads its
    file system's bitmaps and inodes before writing) retraces the recording
    to the same final state, with no divergence."""
    raw, _ = disks
    bundle = str(tmp_path / "disk.bundle")
    con = GuestConsole([rewind, "record", "-o", bundle,
                        *boot_args(linux, 1, "console=ttyS0 rewind.shell quiet"),
                        "-drive", f"file={raw},format=raw,if=virtio"])
    try:
        con.expect(BANNER, timeout=120)
        command(con, "mount /dev/vda /mnt")
        command(con, "write /mnt/a.txt first file")
        command(con, "write /mnt/b.txt second file")
        command(con, "sync")
        command(con, "umount /mnt")      # the last close drops the disk's page cache:
        command(con, "mount /dev/vda /mnt")  # this mount reads the disk again
        assert "second file" in command(con, "cat /mnt/b.txt")
        con.expect(PROMPT)
        con.sendline("poweroff")
        assert con.proc.wait(timeout=60) == 0
    finally:
        if con.proc.poll() is None:
            con.proc.kill()

    srv = subprocess.Popen([rewind, "replay", bundle, "-S", "-gdb", f"tcp::{free_port}"],
                           stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                           stderr=subprocess.PIPE)
    for _ in range(100):
        if tcp_listening(free_port):
            break
        time.sleep(0.1)
    gdb = Gdb(None, gdb=gdb_multiarch)
    try:
        gdb.connect(f":{free_port}")
        s = gdb.run("continue", timeout=120)
        assert "No more reverse-execution history" in s.text, s.text
        end = (gdb.pc(), gdb.eval_int("$minstret"), gdb.eval_int("$sp"), gdb.eval_int("$satp"))
        s = gdb.run("reverse-continue", timeout=120)
        assert "No more reverse-execution history" in s.text, s.text
        assert gdb.eval_int("$minstret") == 0
        s = gdb.run("continue", timeout=120)
        assert "No more reverse-execution history" in s.text, s.text
        assert (gdb.pc(), gdb.eval_int("$minstret"), gdb.eval_int("$sp"),
                gdb.eval_int("$satp")) == end
        gdb.cmd("kill")
        assert srv.wait(30) == 0
        err = srv.stderr.read()
        assert b"diverged" not in err, err.decode()
    finally:
        gdb.close()
        if srv.poll() is None:
            srv.kill()
            srv.wait()


def test_idle_sleep_follows_host_time_and_replays(rewind, linux, tmp_path):
    """-icount sleep=on (the default on a terminal): a guest waiting at its
    prompt lets virtual time follow the host's, as on QEMU, and the waits
    (logged as skip events) replay to the same output."""
    bundle = str(tmp_path / "sleep.bundle")
    con = GuestConsole([rewind, "record", "-o", bundle, "-icount", "sleep=on",
                        *boot_args(linux, 1, "console=ttyS0 rewind.shell quiet")])
    try:
        con.expect(BANNER, timeout=120)
        first = command(con, "date")
        time.sleep(2)
        second = command(con, "date")
        con.expect(PROMPT)
        con.sendline("poweroff")
        con.expect("reboot: Power down", timeout=60)
        assert con.proc.wait(timeout=60) == 0
    finally:
        if con.proc.poll() is None:
            con.proc.kill()
    mono = [float(re.search(r"monotonic (\d+\.\d+)", t).group(1)) for t in (first, second)]
    assert mono[1] - mono[0] >= 1.8, mono     # about the host time that passed
    info = subprocess.run([rewind, "info", bundle], stdout=subprocess.PIPE).stdout.decode()
    assert "skip " in info, info
    p = subprocess.run([rewind, "replay", bundle], stdin=subprocess.DEVNULL,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=120)
    assert p.returncode == 0, p.stderr.decode()[-2000:]
    assert p.stdout == con.output
