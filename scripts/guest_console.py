"""Talks to a guest's serial console through a child process's pipes, the
way a person at the terminal would: wait for text, type a line."""
import os
import select
import subprocess
import time


class ConsoleTimeout(Exception):
    pass


class GuestConsole:
    def __init__(self, argv, env=None):
        self.argv = argv
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, env=env)
        self.output = b""
        self.pos = 0    # where the next expect() starts looking

    def _read(self, timeout):
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
        if not ready:
            return False
        chunk = os.read(self.proc.stdout.fileno(), 65536)
        if not chunk:
            return None
        self.output += chunk
        return True

    def expect(self, text, timeout=30.0):
        """Waits until text appears after the previous match; returns what
        came before it."""
        needle = text.encode() if isinstance(text, str) else text
        deadline = time.monotonic() + timeout
        while True:
            i = self.output.find(needle, self.pos)
            if i >= 0:
                before = self.output[self.pos:i].decode(errors="replace")
                self.pos = i + len(needle)
                return before
            left = deadline - time.monotonic()
            if left <= 0 or self._read(min(left, 0.5)) is None:
                tail = self.output[-2000:].decode(errors="replace")
                raise ConsoleTimeout(f"waited for {text!r}; console ended with:\n{tail}")

    def send(self, text):
        self.proc.stdin.write(text.encode())
        self.proc.stdin.flush()

    def sendline(self, line):
        self.send(line + "\n")

    def uboot_command(self, line, timeout=30.0):
        """Types a U-Boot shell command and returns its output. A marker
        echoed after it, spelt with a variable so that the echoed typing
        never matches, tells where the output ends whatever prompts came
        before it."""
        if not getattr(self, "count", 0):
            self.sendline("setenv rw_mark done")
        self.count = getattr(self, "count", 0) + 1
        self.sendline(f"{line}; echo @@${{rw_mark}}-{self.count}")
        out = self.expect(f"@@done-{self.count}", timeout)
        self.expect("=> ", timeout)
        # drop the echoed command line itself
        return out.split("\n", 1)[1] if "\n" in out else out

    def wait(self, timeout=30.0):
        """Waits for the process to exit, collecting output; returns its status."""
        deadline = time.monotonic() + timeout
        while self.proc.poll() is None and time.monotonic() < deadline:
            self._read(0.2)
        while self._read(0) :
            pass
        if self.proc.poll() is None:
            self.proc.kill()
            raise ConsoleTimeout("process did not exit")
        return self.proc.returncode

    def close(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def text(self):
        return self.output.decode(errors="replace")
