"""A small driver of the real gdb-multiarch through its MI interface, and of
a Rewind process waiting for it (Debian has no pygdbmi).

    with RewindProc(rewind, elf, gdb="tcp::%d" % port) as rw:
        with Gdb(elf) as g:
            g.connect(rw.target)
            g.cmd("break main")
            stop = g.run("continue")       # waits for *stopped
            out = g.cmd("bt")              # the console text GDB printed

Every console command goes through `-interpreter-exec console`, so the text
is what a person would see at the (gdb) prompt; the result class (done,
error, running) and the *stopped record are kept for checks."""
import os
import queue
import re
import signal
import subprocess
import threading
import time

GDB = "gdb-multiarch"


class GdbError(Exception):
    pass


def _unquote(s):
    """Decodes an MI c-string body (without the quotes)."""
    out = []
    i = 0
    while i < len(s):
        c = s[i]
        if c == "\\" and i + 1 < len(s):
            n = s[i + 1]
            if n in "01234567":
                j = i + 1
                while j < len(s) and j < i + 4 and s[j] in "01234567":
                    j += 1
                out.append(chr(int(s[i + 1:j], 8)))
                i = j
                continue
            out.append({"n": "\n", "t": "\t", "r": "\r", "\\": "\\", '"': '"',
                        "e": "\x1b", "a": "\a"}.get(n, n))
            i += 2
            continue
        out.append(c)
        i += 1
    return "".join(out)


def _quote(s):
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


class Stop:
    """A *stopped record: reason, thread id, pc, function, signal."""

    def __init__(self, line):
        self.line = line
        self.reason = self._field("reason")
        tid = self._field("thread-id")
        self.thread = int(tid) if tid else None
        addr = self._field("addr")
        self.pc = int(addr, 16) if addr else None
        self.func = self._field("func")
        self.signal = self._field("signal-name")
        self.exit_code = self._field("exit-code")

    def _field(self, name):
        m = re.search(r'\b%s="([^"]*)"' % re.escape(name), self.line)
        return m.group(1) if m else None

    def __repr__(self):
        return "Stop(%s)" % self.line


class Gdb:
    def __init__(self, elf=None, gdb=GDB, extra_args=()):
        argv = [gdb, "-i=mi", "-nx", "-q", *extra_args]
        if elf:
            argv.append(elf)
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True, bufsize=1)
        self.lines = queue.Queue()
        self.log = []           # every line gdb printed, for failure messages
        self.token = 100
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()
        self.mi("-gdb-set confirm off")
        self.mi("-gdb-set pagination off")
        self.mi("-gdb-set width 0")

    def _read(self):
        for line in self.proc.stdout:
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)

    def _next_line(self, deadline):
        left = deadline - time.monotonic()
        if left <= 0:
            raise GdbError("timeout; gdb said:\n" + "\n".join(self.log[-60:]))
        try:
            line = self.lines.get(timeout=left)
        except queue.Empty:
            raise GdbError("timeout; gdb said:\n" + "\n".join(self.log[-60:]))
        if line is None:
            raise GdbError("gdb exited; it said:\n" + "\n".join(self.log[-60:]))
        self.log.append(line)
        return line

    def _collect(self, token, deadline, text):
        """Reads until the result record of token; returns (class, line)."""
        while True:
            line = self._next_line(deadline)
            if line.startswith(("~", "&", "@")) and line[1:2] == '"':
                text.append(_unquote(line[2:-1]))
                continue
            m = re.match(r"^(\d+)\^(\w+)(.*)$", line)
            if m and int(m.group(1)) == token:
                return m.group(2), line
            if line.startswith("*stopped"):
                self.pending_stops.append(Stop(line))

    pending_stops = None

    def mi(self, command, timeout=30, allow_error=False):
        """Sends one MI command; returns (result class, result line, text)."""
        self.token += 1
        token = self.token
        if self.pending_stops is None:
            self.pending_stops = []
        self.proc.stdin.write("%d%s\n" % (token, command))
        self.proc.stdin.flush()
        text = []
        cls, line = self._collect(token, time.monotonic() + timeout, text)
        if cls == "error":
            if not allow_error:
                raise GdbError("%s -> %s\n%s" % (command, line, "".join(text)))
            m = re.search(r'msg="(.*)"', line)
            text.append("error: " + (_unquote(m.group(1)) if m else line) + "\n")
        return cls, line, "".join(text)

    def wait_stop(self, timeout=30):
        """Waits for the next *stopped record; returns a Stop."""
        deadline = time.monotonic() + timeout
        text = []
        while not self.pending_stops:
            line = self._next_line(deadline)
            if line.startswith("~") and line[1:2] == '"':
                text.append(_unquote(line[2:-1]))
            elif line.startswith("*stopped"):
                self.pending_stops.append(Stop(line))
        stop = self.pending_stops.pop(0)
        stop.text = "".join(text)
        return stop

    def cmd(self, cli, timeout=30, allow_error=False):
        """Runs a console command that does not resume the target; returns
        what GDB printed."""
        cls, _, text = self.mi("-interpreter-exec console " + _quote(cli), timeout, allow_error)
        if cls == "running":
            raise GdbError("%r resumed the target; use run()" % cli)
        return text

    def run(self, cli, timeout=60):
        """Runs a console command that resumes the target (continue, stepi,
        finish...) and waits for the stop; returns the Stop, with .text the
        console output of the command."""
        self.pending_stops = []
        cls, line, text = self.mi("-interpreter-exec console " + _quote(cli), timeout)
        if cls != "running":
            raise GdbError("%r did not resume: %s\n%s" % (cli, line, text))
        stop = self.wait_stop(timeout)
        stop.text = text + stop.text
        return stop

    def start(self, cli, timeout=30):
        """Runs a resuming command without waiting for the stop."""
        self.pending_stops = []
        cls, line, text = self.mi("-interpreter-exec console " + _quote(cli), timeout)
        if cls != "running":
            raise GdbError("%r did not resume: %s\n%s" % (cli, line, text))
        return text

    def connect(self, target, timeout=30):
        """target remote TARGET (":PORT" or a Unix socket path)."""
        self.pending_stops = []
        cls, line, text = self.mi("-target-select remote " + target, timeout)
        if cls != "connected":
            raise GdbError("connect: " + line)
        return text

    def eval(self, expr):
        """Value of an expression as GDB prints it; "/x EXPR" as p/x."""
        if expr.startswith("/"):
            out = self.cmd("print" + expr)
            return out.split(" = ", 1)[1].strip()
        _, line, _ = self.mi("-data-evaluate-expression " + _quote(expr))
        m = re.search(r'value="(.*)"$', line)
        return _unquote(m.group(1)) if m else None

    def eval_int(self, expr):
        v = self.eval("(unsigned long long)(%s)" % expr)
        return int(v.split()[0], 0)

    def pc(self):
        return self.eval_int("$pc")

    def interrupt(self):
        """Ctrl-C as a person types it: SIGINT to gdb."""
        self.proc.send_signal(signal.SIGINT)

    def close(self):
        if self.proc.poll() is None:
            try:
                self.proc.stdin.write("-gdb-exit\n")
                self.proc.stdin.flush()
                self.proc.wait(timeout=5)
            except (OSError, subprocess.TimeoutExpired, ValueError):
                self.proc.kill()
                self.proc.wait()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def tcp_listening(port):
    """True when something listens on 127.0.0.1:port (from /proc: probing
    with a connection would look like a debugger to the stub)."""
    want = ":%04X" % port
    for name in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(name) as f:
                for row in f.readlines()[1:]:
                    cols = row.split()
                    if cols[1].endswith(want) and cols[3] == "0A":
                        return True
        except OSError:
            pass
    return False


class RewindProc:
    """build/rewind run with -gdb, started and waited for until it listens."""

    def __init__(self, rewind, kernel=None, gdb=None, start_stopped=True, extra=(),
                 bios="none", stdin=subprocess.DEVNULL):
        argv = [rewind, "run"]
        if bios:
            argv += ["-bios", bios]
        if kernel:
            argv += ["-kernel", kernel]
        argv += ["-gdb", gdb]
        if start_stopped:
            argv.append("-S")
        argv += list(extra)
        self.argv = argv
        self.out_path = None
        self.proc = subprocess.Popen(argv, stdin=stdin, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT)
        self.output = b""
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        if gdb.startswith("unix:"):
            self.target = gdb[5:]
            ready = lambda: os.path.exists(self.target)
        else:
            port = int(gdb.rsplit(":", 1)[1])
            self.target = ":%d" % port
            ready = lambda: tcp_listening(port)
        deadline = time.monotonic() + 10
        while not ready():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("rewind did not listen: %r" % self.text())
            time.sleep(0.02)

    def _read(self):
        while True:
            chunk = self.proc.stdout.read1(65536)
            if not chunk:
                break
            self.output += chunk

    def text(self):
        return self.output.decode(errors="replace")

    def wait(self, timeout=30):
        rc = self.proc.wait(timeout=timeout)
        self._reader.join(5)
        return rc

    def close(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
