"""Fault injection for crash tests: a storage hook that 'kills the process' at the n-th storage call."""


class Crash(BaseException):
    """Stands for the process dying: not an Exception, so nothing in the code under test catches it."""


class CrashAt:
    def __init__(self, at: int) -> None:
        self.at, self.calls, self.fired = at, 0, False

    def __call__(self, step: str) -> None:
        self.calls += 1
        if self.calls == self.at:
            self.fired = True
            raise Crash(step)
