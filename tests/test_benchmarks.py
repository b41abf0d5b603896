"""Smoke tests for the benchmarks: each one runs with tiny counts and yields its table.

No timing is asserted here; `make bench` is where figures are read.
"""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from benchmarks import __main__ as bench_main
from benchmarks import dispatch, frameworks, record, scaling, server, targets, wrk_window
from benchmarks.peers import CASES as PEER_CASES
from tests.support import wait_until

WRK_OUTPUT = """\
Running 3s test @ http://127.0.0.1:8000/hello
  1 threads and 64 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     2.10ms  500.00us  20.00ms   90.00%
    Req/Sec    30.00k     1.00k   32.00k    70.00%
  Latency Distribution
     50%  850.00us
     75%    2.50ms
     90%    3.00ms
     99%    1.20s
  90000 requests in 3.00s, 12.00MB read
  Socket errors: connect 0, read 2, write 0, timeout 1
  Non-2xx or 3xx responses: 4
Requests/sec:  30000.50
Transfer/sec:      4.00MB
"""


def test_dispatch_runs_every_case():
    results = dispatch.run(seconds=0.001, rounds=1)
    assert [r.case for r in results] == [case.name for case in dispatch.CASES]
    assert all(r.micropie > 0 and r.starlette > 0 and r.ratio > 0 for r in results)
    table = dispatch.format_table(results)
    assert table.count("\n") == len(results) + 1
    assert "| form post |" in table


@pytest.mark.parametrize("case", dispatch.CASES, ids=lambda case: case.name)
def test_both_apps_answer_alike(case):
    loop = dispatch.asyncio.new_event_loop()
    try:
        apps = dispatch.setup_apps(loop)
        status = dispatch.check_case(loop, apps, case)
    finally:
        loop.close()
    assert status == (404 if case.name == "404" else 200)


def test_unknown_case_is_refused():
    with pytest.raises(ValueError, match="unknown case"):
        dispatch.select_cases(["nope"])


def test_scaling_runs_each_size():
    results = scaling.run(seconds=0.001, rounds=1, sizes=(1, 10))
    assert [r.size for r in results] == [1, 10]
    assert results[0].vs_baseline == 1.0
    assert scaling.format_table(results).count("\n") == 3


def test_scaling_app_has_all_handlers():
    app = scaling.build_micropie(50)
    assert len(app._handlers) == 50


def test_parse_wrk_output():
    run = server.parse_wrk(WRK_OUTPUT)
    assert run.requests_per_s == 30000.5
    assert run.latency_ms == {"50%": 0.85, "75%": 2.5, "90%": 3.0, "99%": 1200.0}
    assert (run.socket_errors, run.non_2xx, run.requests) == (3, 4, 90000)


def test_parse_wrk_output_without_errors():
    clean = "\n".join(line for line in WRK_OUTPUT.splitlines() if "errors" not in line)
    clean = clean.replace("Non-2xx or 3xx responses: 4", "")
    run = server.parse_wrk(clean)
    assert (run.socket_errors, run.non_2xx) == (0, 0)


def test_server_table_shape():
    result = server.ServerResult(
        "/hello",
        {"micropie": [server.parse_wrk(WRK_OUTPUT)], "starlette": [server.parse_wrk(WRK_OUTPUT)]},
    )
    assert result.ratio == 1.0
    assert result.errors == 14
    assert not result.met
    assert server.format_table([result]).count("\n") == 3


def test_protocol_benchmark_runs_each_case():
    results = server.run_protocol(seconds=0.001, rounds=1, connections=(1, 3))
    expected = [(case.name, n) for case in server.PROTOCOL_CASES for n in (1, 3)]
    assert [(r.case, r.connections) for r in results] == expected
    assert all(r.micropie > 0 and r.starlette > 0 for r in results)
    assert server.format_protocol_table(results).count("\n") == len(expected) + 1


@pytest.mark.parametrize("case", server.PROTOCOL_CASES, ids=lambda case: case.name)
def test_uvicorn_pipe_serves_each_case(case):
    loop = server.new_loop()
    try:
        for app in (dispatch.build_micropie_app(), dispatch.build_starlette_app()):
            pipe = server.UvicornPipe(app, case.request, loop)
            pipe.check(case.status, case.body)
            assert pipe.transport.writes == 2
    finally:
        loop.close()


@pytest.mark.server
@pytest.mark.skipif(not server.wrk_available(), reason="wrk is not installed")
def test_server_benchmark_under_wrk():
    (result,) = server.run(duration=1, rounds=1, connections=4, paths=["/hello"], warmup=1)
    assert set(result.runs) == {"micropie", "starlette"}
    assert result.errors == 0
    assert result.rate("micropie") > 0
    assert all(run.gc_collections is not None for run in result.runs["micropie"])
    assert "n/a" not in server.format_table([result])


def test_main_prints_tables(capsys):
    code = bench_main.main(["--only", "dispatch", "--seconds", "0.001", "--rounds", "1"])
    out = capsys.readouterr().out
    assert code == 0
    assert "## In-process dispatch" in out
    assert "| hello |" in out


# -- peers: the same app in six frameworks ---------------------------------------------


def _test_client_requester(client):
    def request(case, cookie):
        client.cookies.clear()
        headers = {"content-type": case.content_type} if case.content_type else {}
        if cookie:
            headers["cookie"] = cookie
        body = case.body or None
        response = client.request(case.method, case.path, content=body, headers=headers)
        return response.status_code, response.content, response.headers.get_list("set-cookie")

    return request


@pytest.mark.parametrize("app", list(frameworks.APPS))
def test_peer_app_answers_every_case(app):
    module = importlib.import_module(f"benchmarks.peers.{app}_app")
    with TestClient(module.app) as client:
        cookie = frameworks.check(app, _test_client_requester(client))
    if app in frameworks.NO_SESSIONS:
        assert cookie is None
    else:
        assert cookie is not None and "=" in cookie


def test_peer_check_refuses_a_wrong_answer():
    def wrong(case, cookie):
        return 200, b"something else", []

    with pytest.raises(AssertionError, match="micropie plaintext"):
        frameworks.check("micropie", wrong)


def test_peer_check_wants_the_session_written():
    module = importlib.import_module("benchmarks.peers.micropie_app")
    with TestClient(module.app) as client:
        answer = _test_client_requester(client)

        def no_cookie_on_visit(case, cookie):
            status, body, cookies = answer(case, cookie)
            return status, body, cookies if case.name == "login" else []

        with pytest.raises(AssertionError, match="session r/w"):
            frameworks.check("micropie", no_cookie_on_visit)


def test_wrk_script_sends_method_body_cookie_and_counts_answers(tmp_path):
    case = next(c for c in PEER_CASES if c.name == "form POST")
    script = frameworks.wrk_script(case, 'session=a"b', tmp_path).read_text()
    assert f"wrk.method = {wrk_window._lua_string(b'POST')}" in script
    assert wrk_window._lua_string(b"name=alice&age=30") in script
    assert wrk_window._lua_string(b'session=a"b') in script
    assert "bench_expected_status = 200" in script
    assert "function response(" in script and "function done(" in script
    missing = next(c for c in PEER_CASES if c.name == "404")
    assert (
        "bench_expected_status = 404" in frameworks.wrk_script(missing, None, tmp_path).read_text()
    )


def test_window_counts_only_the_responses_inside_it():
    bins = [10, 10, 10, 10]  # 5 ms bins
    assert wrk_window.count_between(bins, 0.005, 0.005, 0.015) == pytest.approx(20)
    assert wrk_window.count_between(bins, 0.005, 0.0025, 0.0125) == pytest.approx(20)
    assert wrk_window.count_between(bins, 0.005, 0.0, 1.0) == pytest.approx(40)
    assert wrk_window.count_between(bins, 0.005, 0.03, 0.04) == 0


def test_window_output_is_read():
    text = WRK_OUTPUT + "bench-unexpected 3\nbench-bins 0.005 0 4 7\n"
    assert wrk_window.parse_output(text) == (3, 0.005, [0, 4, 7])
    with pytest.raises(ValueError, match="no response counts"):
        wrk_window.parse_output(WRK_OUTPUT)


def test_a_window_lasts_past_wrk_start_up():
    window = wrk_window.Window(warmup=0.5, length=1.5)
    assert window.wrk_seconds >= 2 + 1


def _fake_results(setup="c64", flagged=False):
    cases = [c for c in PEER_CASES if c.name in ("plaintext", "session r/w", "form POST")]
    results = frameworks.Results(frameworks.SETUPS[setup], list(frameworks.APPS), cases)
    rates = {
        "micropie": 12,
        "starlette": 10,
        "fastapi": 5,
        "blacksheep": 11,
        "muffin": 9,
        "raw": 13,
    }
    for case in cases:
        for app, rate in rates.items():
            if frameworks.supports(app, case):
                if case.name == "form POST" and app == "blacksheep":
                    rate = 15  # micropie misses this one
                runs = [frameworks.Sample(rate * k, 1200 / rate) for k in (1.0, 1.1, 0.9)]
                results.samples[case.name, app] = runs
    if flagged:
        results.samples["plaintext", "fastapi"][1] = frameworks.Sample(
            5.0, 240.0, ("socket errors: connect 0, read 3, write 0, timeout 0",)
        )
    return results


def test_peer_tables():
    results = _fake_results()
    order = ["micropie", "blacksheep", "starlette", "muffin", "fastapi"]
    assert results.ranking("plaintext") == order
    assert results.rank("session r/w", "micropie") == 1
    assert results.ratios("plaintext", "micropie") == pytest.approx([1.2, 1.2, 1.2])
    table = frameworks.ratio_table(results)
    assert "| plaintext | 1.20 (1.20–1.20) | 1.00 (1.00–1.00) |" in table
    assert "| session r/w |" in table and "| 1 of 4 |" in table
    assert "12 / 100.0" in frameworks.rate_table(results)
    assert results.cpu_ratios("plaintext", "micropie") == pytest.approx([1.2, 1.2, 1.2])
    assert results.ranking("plaintext", by_cpu=True) == order
    by_cpu = frameworks.ratio_table(results, by_cpu=True)
    assert "| plaintext | 1.20 (1.20–1.20) | 1.00 (1.00–1.00) |" in by_cpu
    assert "window cut short: none." in frameworks.report(results)


def test_peer_report_lists_each_suspect_run():
    results = _fake_results(flagged=True)
    assert results.flagged() == [
        "round 2, plaintext, FastAPI: socket errors: connect 0, read 3, write 0, timeout 0"
    ]
    report = frameworks.report(results)
    assert "window cut short: 1:" in report
    assert "- round 2, plaintext, FastAPI: socket errors" in report


def test_targets_summary_judges_every_target_at_every_setup():
    summary = targets.Summary([_fake_results("c64"), _fake_results("c1000")])
    rows = {
        (line.split(" | ")[0].lstrip("| "), line.split(" | ")[1]): line
        for line in summary.table().splitlines()[2:]
    }
    assert set(rows) == {
        ("≥ 0.90× raw ASGI", "plaintext"),
        ("≥ 1.20× Starlette", "session r/w"),
        ("≥ 1.00× BlackSheep", "form POST"),
        ("first after raw ASGI", "plaintext"),
        ("first after raw ASGI", "session r/w"),
        ("first after raw ASGI", "form POST"),
    }
    raw = rows["≥ 0.90× raw ASGI", "plaintext"]
    assert raw.count("0.92 (0.92–0.92) met") == 4 and raw.endswith("| met |")
    form = rows["≥ 1.00× BlackSheep", "form POST"]
    assert form.count("0.80 (0.80–0.80) MISSED") == 4
    assert form.endswith("| missed at c64, c1000 |")
    first = rows["first after raw ASGI", "plaintext"]
    assert "1 of 5 (1.09× BlackSheep) met" in first
    assert "2 of 5 (0.80× BlackSheep) MISSED" in rows["first after raw ASGI", "form POST"]
    assert not summary.met()
    assert "4 of 6 targets met." in summary.report()


def test_targets_skip_what_a_run_lacks():
    results = _fake_results()
    results.apps = ["micropie", "starlette"]
    judged = targets.Summary([results]).judged()
    assert {(t.text, t.case) for t in judged} == {
        ("≥ 1.20× Starlette", "session r/w"),
        ("first after raw ASGI", "plaintext"),
        ("first after raw ASGI", "session r/w"),
        ("first after raw ASGI", "form POST"),
    }


def test_record_replaces_the_section_between_the_markers(tmp_path):
    doc = tmp_path / "benchmarks.md"
    doc.write_text(f"# Benchmarks\n\nbefore\n\n{record.BEGIN}\nold tables\n{record.END}\n\nafter\n")
    record.write(doc, "### new tables\n")
    text = doc.read_text()
    assert "old tables" not in text
    assert f"before\n\n{record.BEGIN}\n\n### new tables\n\n{record.END}\n\nafter\n" in text
    record.write(doc, "### newer")
    assert "new tables" not in doc.read_text() and "### newer" in doc.read_text()


def test_record_needs_its_markers(tmp_path):
    doc = tmp_path / "benchmarks.md"
    doc.write_text("# Benchmarks\n")
    with pytest.raises(ValueError, match="marker"):
        record.write(doc, "tables")
    assert doc.read_text() == "# Benchmarks\n"


def test_docs_page_has_the_record_markers():
    text = (Path(__file__).resolve().parent.parent / "docs" / "benchmarks.md").read_text()
    assert text.count(record.BEGIN) == 1 and text.count(record.END) == 1


def test_main_records_its_output_into_the_page(tmp_path, capsys):
    doc = tmp_path / "benchmarks.md"
    doc.write_text(f"# Benchmarks\n\n{record.BEGIN}\n{record.END}\n\n## Where the time goes\n")
    argv = ["--only", "scaling", "--seconds", "0.001", "--rounds", "1", "--record", str(doc)]
    assert bench_main.main(argv) == 0
    text = doc.read_text()
    section = text[text.index(record.BEGIN) : text.index(record.END)]
    assert "`python -m benchmarks --only scaling" in section
    assert "## Scaling: GET /greet/alice with N handlers" in section
    assert "| 1,000 |" in section
    assert "# micropie benchmarks" not in text
    assert text.endswith("\n\n## Where the time goes\n")
    assert f"(recorded in {doc})" in capsys.readouterr().out


def test_main_refuses_to_record_into_a_page_without_markers(tmp_path, capsys):
    doc = tmp_path / "benchmarks.md"
    doc.write_text("# Benchmarks\n")
    assert bench_main.main(["--only", "scaling", "--record", str(doc)]) == 2
    assert "marker" in capsys.readouterr().err
    assert doc.read_text() == "# Benchmarks\n"


def test_provenance_names_command_and_commit():
    line = record.provenance(["--only", "peers"], "Python 3")
    assert line.startswith("`python -m benchmarks --only peers` at commit `")
    assert line.endswith("Python 3.")


def _window(seconds):
    return wrk_window.Window(warmup=0.3, length=seconds)


def _wrong_answers(results):
    """The suspect runs that had socket errors or other statuses.

    A window cut short only says the machine was busy (a test run shares it), which is
    the benchmark's report to show, not a failure of the apps or the harness.
    """
    return [line for line in results.flagged() if "window" not in line]


@pytest.mark.server
@pytest.mark.skipif(not server.wrk_available(), reason="wrk is not installed")
def test_peers_under_wrk():
    cases = [c for c in PEER_CASES if c.name in ("plaintext", "session r/w", "404")]
    setup = frameworks.Setup("tiny", workers=1, threads=1, connections=4, rounds=1,
                             window=_window(0.5))  # fmt: skip
    results = frameworks.run(setup, ["micropie", "starlette", "raw"], cases, warmup=1)
    assert _wrong_answers(results) == []
    assert set(results.samples) == {
        (case.name, app)
        for case in cases
        for app in ("micropie", "starlette", "raw")
        if frameworks.supports(app, case)
    }
    assert all(results.cpu_us(case, app) for case, app in results.samples)
    assert all(results.median_rate(case, app) for case, app in results.samples)
    assert "raw ASGI" in frameworks.report(results)


@pytest.mark.server
@pytest.mark.skipif(not server.wrk_available(), reason="wrk is not installed")
def test_window_flags_answers_with_another_status(tmp_path):
    plain = next(c for c in PEER_CASES if c.name == "plaintext")
    with frameworks.serve("raw") as peer:
        script = wrk_window.write_script(tmp_path / "wrong.lua", status=201)
        sample = wrk_window.measure(peer.url + plain.path, script, _window(0.5), 2, 1, peer.pids())
    assert sample.requests_per_s > 0
    assert len(sample.problems) == 1 and "responses with another status" in sample.problems[0]


@pytest.mark.server
@pytest.mark.skipif(not server.wrk_available(), reason="wrk is not installed")
def test_peers_two_workers_count_every_process():
    with frameworks.serve("micropie", workers=2) as peer:
        # the supervisor and its two workers (spawned right after it starts)
        assert wait_until(lambda: len(peer.pids()) >= 3, 60)
    setup = frameworks.Setup("two", workers=2, threads=2, connections=8, rounds=1,
                             window=_window(0.5))  # fmt: skip
    plain = [c for c in PEER_CASES if c.name == "plaintext"]
    results = frameworks.run(setup, ["micropie", "starlette"], plain, warmup=1)
    assert _wrong_answers(results) == []
    assert results.cpu_us("plaintext", "micropie")


def test_typed_runs_every_case_against_fastapi():
    from benchmarks import typed

    results = typed.run(seconds=0.001, rounds=1)
    assert [r.case for r in results] == [case.name for case in typed.CASES]
    assert all(r.micropie > 0 and r.fastapi > 0 for r in results)
    assert "| model return |" in typed.format_table(results)


def test_typed_apps_answer_alike_and_differences_are_caught():
    from benchmarks import typed

    loop = typed.asyncio.new_event_loop()
    try:
        apps = {"micropie": typed.TypedBench(), "fastapi": typed.build_fastapi_app()}
        typed.check_same_answers(loop, apps)
        apps["fastapi"] = typed.TypedBench(json_errors=True, max_body_size=8)
        with pytest.raises(AssertionError, match="answer differently"):
            typed.check_same_answers(loop, apps)
    finally:
        loop.close()
