"""The few lines of Python that run first inside the sandbox, before the model-written program.

Run as `python -I -B -c BOOTSTRAP PROGRAM RESULT_FD LIMITS_JSON`, with the run's token on stdin:

1. reads the token from stdin (a pipe the runner wrote and closed), then puts /dev/null on fd 0;
2. sets the resource limits (`LIMITS_JSON`: {"RLIMIT_CPU": [soft, hard], ...}; never above the
   hard limit it was given);
3. runs PROGRAM as `__main__` (tracebacks name the program's file and lines);
4. only when the program's last statement has run, writes the token to RESULT_FD.

`exit(0)`, `sys.exit(0)`, `os._exit(0)`, a signal, or an exception anywhere before the end of the
program leave the token unwritten, so the runner scores the run as failed whatever the exit status:
a pass is a program that got to its end. (The token is held in this process's memory, so this
stops programs that end early, not a program written to dig the token out of its own interpreter.)
"""

BOOTSTRAP = r'''
import os, sys
def _codefill_main(program, result_fd, limits):
    import json, resource, traceback
    token = b""
    while True:
        chunk = os.read(0, 4096)
        if not chunk:
            break
        token += chunk
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    for name, (soft, hard) in json.loads(limits).items():
        which = getattr(resource, name)
        old = resource.getrlimit(which)[1]
        if old != resource.RLIM_INFINITY:
            soft, hard = min(soft, old), min(hard, old)
        resource.setrlimit(which, (soft, hard))
    result_fd = int(result_fd)
    os.set_inheritable(result_fd, False)
    with open(program, "rb") as f:
        source = f.read()
    main = type(sys)("__main__")
    main.__file__ = program
    main.__builtins__ = __builtins__
    sys.modules["__main__"] = main
    sys.argv = [program]
    try:
        code = compile(source, program, "exec")
        exec(code, main.__dict__)
    except SystemExit:
        raise
    except BaseException as exc:
        tb = exc.__traceback__.tb_next if exc.__traceback__ is not None else None
        traceback.print_exception(type(exc), exc, None if isinstance(exc, SyntaxError) else tb)
        sys.stderr.flush()
        os._exit(1)
    os.write(result_fd, token.strip())
    os.close(result_fd)
_codefill_main(*sys.argv[1:4])
'''
