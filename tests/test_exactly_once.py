"""Exactly-once email against a real SMTP server (aiosmtpd) that misbehaves: one that drops the
connection after DATA before its "250" (the letter may or may not have arrived), an ops store that
is deleted or recreated, a send log that is lost or restored from an older backup, and an older
install whose send log lived in the ops store.

The world is the collectors' world of tests/mail_world.py (read only: its serving file is read,
the send log and ops store of each test are in the test's own data directory). Its dunning run, by
hand from the table in mail_world.py with the default levels (due_soon -3, overdue_7, overdue_30,
final_60): C1 gets one letter (I1 final_60, I2 due_soon), C2 one (I3 overdue_30), C3 one (I5 due_soon),
C4 one (I7 overdue_7): 4 letters, 5 keys. The collector reports: one to K1 and one to K2.
"""

from __future__ import annotations

import datetime as dt
import getpass
import shutil
import sqlite3
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from alerts import mail, runner, sendlog
from core.settings import Settings
from orchestration.cli import app
from tests import mail_world

LETTERS = {
    "ap@acme.example": ["dunning/I1/final_60", "dunning/I2/due_soon"],
    "ap@bolt.example": ["dunning/I3/overdue_30"],
    "ap@crane.example": ["dunning/I5/due_soon"],
    "ap@delta.example": ["dunning/I7/overdue_7"],
}
SENDER = "o2c collections <o2c@localhost>"


class DropsReply(mail_world.Inbox):
    """Drops the connection after the content of the `nth` message (from 1) instead of answering
    250. `delivers`: whether it kept that message (the reply was what got lost) or not."""

    def __init__(self, nth: int, delivers: bool) -> None:
        super().__init__()
        self.nth, self.delivers, self.seen = nth, delivers, 0

    async def handle_DATA(self, server, session, envelope):
        self.seen += 1
        if self.seen != self.nth:
            return await super().handle_DATA(server, session, envelope)
        if self.delivers:
            self.messages.append(message_from_bytes(envelope.content, policy=policy.default))
        server.transport.abort()  # gone before the reply
        return "250 OK"


class RefusesRecipient(mail_world.Inbox):
    """Answers 550 to one recipient address, takes the rest."""

    def __init__(self, refused: str) -> None:
        super().__init__()
        self.refused = refused

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address == self.refused:
            return "550 5.1.1 no such mailbox"
        envelope.rcpt_tos.append(address)
        return "250 OK"


@pytest.fixture
def env(collector_world: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """This test's data directory (send log, ops store) on the collectors' world's serving file."""
    data = tmp_path / "data"
    monkeypatch.setenv("O2C_DATA_DIR", str(data))
    monkeypatch.setenv("O2C_SERVING_PATH", str(collector_world / "warehouse" / "serving.duckdb"))
    monkeypatch.setenv("O2C_REPORTING_CURRENCY", "EUR")
    monkeypatch.setenv("O2C_SMTP_HOST", "127.0.0.1")
    for name in ("O2C_OPS_URL", "O2C_WAREHOUSE_PATH", "O2C_ALERTS_CONFIG", "O2C_MAIL_FROM"):
        monkeypatch.delenv(name, raising=False)
    return data


def settings(port: int) -> Settings:
    """The environment's settings, sending to the SMTP server at `port`."""
    return Settings(smtp_port=port)


def recipient(message: EmailMessage) -> str:
    return message["To"].addresses[0].addr_spec


def o2c(*args: str, port: int) -> Result:
    """The `o2c` command (in this process: the test's environment), sending to the server at `port`."""
    return CliRunner().invoke(app, list(args), env={"O2C_SMTP_PORT": str(port)})


def test_the_message_id_is_the_logical_emails_own() -> None:
    keys = ["dunning/I1/overdue_30", "dunning/I2/due_soon"]
    first = sendlog.message_id(keys, SENDER)
    assert first == sendlog.message_id(list(reversed(keys)), SENDER)  # every attempt, any order
    assert first.startswith("<o2c.") and first.endswith("@localhost>") and len(first) == len("<o2c.@localhost>") + 32
    assert sendlog.message_id(keys[:1], SENDER) != first  # another email, another id
    assert sendlog.message_id(keys, "o2c").endswith("@o2c.local>")  # a sender without a domain


def test_a_reply_lost_after_data_is_one_letter_over_two_runs_and_the_operator_is_told(env: Path) -> None:
    # The server keeps the second letter but the connection drops before its 250.
    with mail_world.smtp_server(DropsReply(nth=2, delivers=True)) as server, pytest.raises(mail.SmtpError) as failure:
        runner.run("dunning", settings(server.port))
    assert failure.value.ambiguous
    lost = failure.value.in_flight
    lost_to = recipient(lost)
    assert lost["Message-ID"] == sendlog.message_id(LETTERS[lost_to], SENDER)
    assert f"may have delivered {lost['Message-ID']}" in str(failure.value) and "unconfirmed" in str(failure.value)
    assert [recipient(m) for m in server.messages] == [recipient(server.messages[0]), lost_to]
    log = sendlog.location(settings(server.port))
    status = {r["key"]: r["status"] for r in sendlog.sent(log)}
    assert {k: status[k] for k in LETTERS[lost_to]} == dict.fromkeys(LETTERS[lost_to], "sending")

    with mail_world.smtp_server() as second:
        outcome = runner.run("dunning", settings(second.port))
    assert (outcome.sent, outcome.already_sent, outcome.unconfirmed) == (2, 0, [lost["Message-ID"]])
    assert f"dunning: unconfirmed {lost['Message-ID']} to " in outcome.warnings[0]
    assert f"`o2c alerts confirm '{lost['Message-ID']}'`" in outcome.warnings[0]
    everything = server.messages + second.messages
    assert sorted(recipient(m) for m in everything) == sorted(LETTERS)  # one letter each, over two runs
    for message in everything:  # each with its own logical Message-ID
        assert message["Message-ID"] == sendlog.message_id(LETTERS[recipient(message)], SENDER)

    # The operator finds the Message-ID in the mail server's log and confirms it: settled for good.
    confirmed = o2c("alerts", "confirm", lost["Message-ID"], port=second.port)
    assert confirmed.exit_code == 0 and "confirmed as delivered" in confirmed.stdout
    with mail_world.smtp_server() as third:
        outcome = runner.run("dunning", settings(third.port))
    assert (outcome.sent, outcome.already_sent, outcome.unconfirmed, third.messages) == (0, 0, [], [])
    assert {r["status"] for r in sendlog.sent(log)} == {"sent"}
    notes = {r["note"] for r in sendlog.sent(log) if r["message_id"] == lost["Message-ID"]}
    assert notes == {f"confirmed delivered by {getpass.getuser()}"}  # who settled it, for the auditors


def test_resend_sends_the_recorded_letter_again_with_its_own_message_id(env: Path) -> None:
    # This time the server did not keep the letter: the operator's mail log shows nothing.
    with mail_world.smtp_server(DropsReply(nth=1, delivers=False)) as server, pytest.raises(mail.SmtpError) as failure:
        runner.run("dunning", settings(server.port))
    lost = failure.value.in_flight
    assert server.messages == []
    with mail_world.smtp_server() as second:
        said = runner.settle(settings(second.port), lost["Message-ID"], resend=True)
        assert "sent again with the same Message-ID" in said
        assert [m["Message-ID"] for m in second.messages] == [lost["Message-ID"]]
        text = second.messages[0].get_body(("plain",)).get_content().replace("\r\n", "\n")
        assert text == lost.get_body(("plain",)).get_content() and "Kundennummer: C1" in text
        with pytest.raises(ValueError, match="no unconfirmed message"):
            runner.settle(settings(second.port), lost["Message-ID"], resend=True)  # never twice
        outcome = runner.run("dunning", settings(second.port))
    assert (outcome.sent, outcome.already_sent, outcome.unconfirmed) == (3, 0, [])
    assert sorted(recipient(m) for m in second.messages) == sorted(LETTERS)


def test_a_refused_letter_is_reported_and_never_stops_the_others(env: Path) -> None:
    with mail_world.smtp_server(RefusesRecipient("ap@bolt.example")) as server:
        outcome = runner.run("dunning", settings(server.port))
    assert (outcome.sent, len(outcome.refused)) == (3, 1)
    assert sorted(recipient(m) for m in server.messages) == sorted(set(LETTERS) - {"ap@bolt.example"})
    bolt = sendlog.message_id(LETTERS["ap@bolt.example"], SENDER)
    assert outcome.refused == [
        f"dunning: {bolt} to Bolt Ltd <ap@bolt.example> not sent, refused: SMTP server 127.0.0.1:{server.port}: "
        "SMTPRecipientsRefused: {'ap@bolt.example': (550, b'5.1.1 no such mailbox')}"
    ]
    logged = {r["key"] for r in sendlog.sent(sendlog.location(settings(server.port)))}
    assert logged == {k for keys in LETTERS.values() for k in keys} - set(LETTERS["ap@bolt.example"])
    with mail_world.smtp_server() as second:  # the address fixed (or the server back): it goes now
        assert runner.run("dunning", settings(second.port)).sent == 1
    assert [recipient(m) for m in second.messages] == ["ap@bolt.example"]


def test_an_unconfirmed_internal_report_goes_again_with_the_same_message_id(env: Path) -> None:
    with mail_world.smtp_server(DropsReply(nth=1, delivers=True)) as server, pytest.raises(mail.SmtpError):
        runner.run("collector_reports", settings(server.port))
    first = server.messages[0]
    with mail_world.smtp_server() as second:
        outcome = runner.run("collector_reports", settings(second.port))
    # A collector's report twice (same Message-ID, so a mail client shows it once) rather than none.
    assert (outcome.sent, outcome.resent, outcome.unconfirmed) == (1, 1, [])
    assert second.messages[0]["Message-ID"] == first["Message-ID"]
    assert sorted(recipient(m) for m in second.messages) == ["kim@example.com", "lee@example.com"]
    assert f"sent again the unconfirmed {first['Message-ID']}" in outcome.warnings[0]


def test_a_lost_or_recreated_ops_store_sends_nothing_again_and_says_why(env: Path) -> None:
    with mail_world.smtp_server() as server:
        assert runner.run("dunning", settings(server.port)).sent == 4
        ops = env / "ops" / "ops.sqlite"
        ops.unlink()

        result = o2c("alerts", "send", "--kind", "dunning", port=server.port)
        assert result.exit_code == 1
        lines = [line for line in result.stdout.splitlines() if line.strip()]
        assert len(lines) == 1 and lines[0].startswith("sending held — the ops store ")
        assert f"{ops} is missing" in result.stdout.replace("\n", "") and not ops.exists()
        assert len(server.messages) == 4

        # A dashboard records an action: the ops store is made again, empty. Still held.
        from core import ops_store

        ops_store.record(f"sqlite:///{ops}", ops_store.Action("C1", "K1", "note", dt.date(2026, 11, 30), note="called"))
        with pytest.raises(sendlog.SendingHeld, match=r"not the one the send log .* was paired with"):
            runner.run("dunning", settings(server.port))

        said = runner.acknowledge(settings(server.port))
        assert said == [f"send log {env / 'warehouse' / 'sendlog.sqlite'} paired with the ops store {ops} as it is now"]
        outcome = runner.run("dunning", settings(server.port))
    assert (outcome.sent, outcome.already_sent, len(server.messages)) == (0, 0, 4)


def test_a_lost_send_log_holds_sending_and_acknowledging_counts_what_is_due_as_sent(env: Path) -> None:
    with mail_world.smtp_server() as server:
        assert runner.run("dunning", settings(server.port)).sent == 4
        log = sendlog.location(settings(server.port))
        backup = log.with_name("backup.sqlite")
        shutil.copy(log, backup)  # a backup taken now, before the collector reports
        assert runner.run("collector_reports", settings(server.port)).sent == 2

        shutil.copy(backup, log)  # restored from that older backup: 2 reports' keys are missing
        with pytest.raises(sendlog.SendingHeld, match=r"has 5 keys, the ops store .* remembers 7"):
            runner.run("collector_reports", settings(server.port))
        log.unlink()  # and lost altogether
        with pytest.raises(sendlog.SendingHeld, match=r"send log .* is missing, but the ops store .* was paired"):
            runner.run("dunning", settings(server.port))
        preview = runner.run("dunning", settings(server.port), preview=True)  # a preview still works
        assert "sending is held" in preview.warnings[0] and len(preview.previews) == 4

        notes = runner.acknowledge(settings(server.port))
        assert notes[1:] == [
            "collector_reports: 2 keys due now counted as sent",
            "dunning: 5 keys due now counted as sent",
        ]
        for kind in runner.KINDS:
            outcome = runner.run(kind, settings(server.port))
            assert (outcome.sent, outcome.unconfirmed) == (0, []), kind
    assert len(server.messages) == 6  # 4 letters and 2 reports, each once
    assert {r["status"] for r in sendlog.sent(log)} == {"assumed"}
    made, acknowledged = [(e["by"], e["event"]) for e in sendlog.history(log)]
    assert made[1].startswith("send log ") and " made, paired with ops store " in made[1]
    assert acknowledged == (
        getpass.getuser(),
        f"acknowledged a lost send log: new send log {log}; collector_reports: 2 keys due now counted as sent; "
        "dunning: 5 keys due now counted as sent",
    )


def test_an_upgrade_copies_the_send_log_out_of_the_ops_store_and_sends_nothing_again(env: Path) -> None:
    # The ops store of an older install, its alert_send_log as that version wrote it: one row per
    # key, the keys of one email with the same recipient, subject and time.
    ops = env / "ops" / "ops.sqlite"
    ops.parent.mkdir(parents=True)
    con = sqlite3.connect(ops)
    con.execute(
        "create table alert_send_log (key varchar(300) primary key, kind varchar(40) not null, "
        "recipient varchar(300) not null, subject varchar(500) not null, sent_at datetime not null)"
    )
    for n, (address, keys) in enumerate(LETTERS.items()):
        for key in keys:
            con.execute(
                "insert into alert_send_log values (?, 'dunning', ?, 'Payment reminder', ?)",
                [key, address, f"2026-11-30 08:00:0{n}.000000"],
            )
    con.commit()
    con.close()
    with mail_world.smtp_server() as server:
        outcome = runner.run("dunning", settings(server.port))
    assert (outcome.sent, outcome.already_sent, server.messages) == (0, 0, [])
    log = sendlog.location(settings(server.port))
    assert outcome.warnings == [
        f"send log: 4 sent messages (5 keys) copied from the ops store's alert_send_log to {log}"
    ]
    assert {r["key"] for r in sendlog.sent(log)} == {k for keys in LETTERS.values() for k in keys}
