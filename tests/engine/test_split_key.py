"""Split-key mode end to end: the service finds an offset, only the person can form the key."""

from __future__ import annotations

import json
import secrets

import base58
import coincurve
import pytest

from gpu_worker.cli import main
from gpu_worker.errors import VanikeysError
from gpu_worker.formats import CURVE_ORDER, FORMATS, identifier_from_secret
from gpu_worker.grinders import grind
from gpu_worker.grinders.python import PythonBackend
from gpu_worker.job import GrindJob
from gpu_worker.patterns import score

START = 0x5EED5EED5EED5EED5EED5EED5EED5EED5EED5EED5EED5EED5EED5EED5EED


def persons_key() -> tuple[int, coincurve.PublicKey]:
    d = secrets.randbelow(CURVE_ORDER - 1) + 1
    return d, coincurve.PublicKey.from_secret(d.to_bytes(32, "big"))


@pytest.mark.parametrize("format_id", sorted(FORMATS))
@pytest.mark.parametrize("compressed", [True, False])
def test_offsets_combine_into_the_returned_identifier(format_id: str, compressed: bool) -> None:
    d, q = persons_key()
    job = GrindJob.parse(
        {
            "v": 1,
            "format": format_id,
            "pattern": "ab",
            "budget": 20,
            "top": 3,
            "split_pubkey": q.format(compressed).hex(),
        }
    )
    result = grind(job, PythonBackend(processes=1), start_scalar=START)
    assert result.checked == 20 and len(result.results) == 3
    fmt = job.address_format
    # Brute force over Q + (start + i)·G: split-key mode walks points, one key each.
    walked = []
    for i in range(20):
        offset_point = coincurve.PublicKey.from_secret((START + i).to_bytes(32, "big"))
        identifier = fmt.identifier(coincurve.PublicKey.combine_keys([q, offset_point]))
        walked.append((-score(job.compiled(), fmt.body(identifier)), i, identifier))
    assert [hit.identifier for hit in result.results] == [identifier for _, _, identifier in sorted(walked)[:3]]
    for hit in result.results:
        assert hit.secret_kind == "offset"
        final = (d + int(hit.secret, 16)) % CURVE_ORDER
        assert identifier_from_secret(fmt, final) == hit.identifier
        # The offset alone is not the key: it gives some other identifier.
        assert identifier_from_secret(fmt, int(hit.secret, 16)) != hit.identifier


def test_cli_combine_forms_the_key_the_grinder_promised(capsys: pytest.CaptureFixture[str]) -> None:
    d, q = persons_key()
    job = GrindJob.parse({"v": 1, "format": "btc", "pattern": "^a", "budget": 8, "split_pubkey": q.format().hex()})
    hit = grind(job, PythonBackend(processes=1)).results[0]
    code = main(
        [
            "combine",
            "btc",
            "--private-key",
            f"{d:064x}",
            "--offset",
            hit.secret,
            "--identifier",
            hit.identifier,
            "--json",
        ]
    )
    assert code == 0
    combined = json.loads(capsys.readouterr().out)
    assert combined["identifier"] == hit.identifier
    raw = base58.b58decode_check(combined["secret"])
    assert raw[0] == 0x80 and raw[33] == 0x01
    assert int.from_bytes(raw[1:33], "big") == (d + int(hit.secret, 16)) % CURVE_ORDER


def test_cli_combine_refuses_the_wrong_private_key(capsys: pytest.CaptureFixture[str]) -> None:
    d, q = persons_key()
    job = GrindJob.parse({"v": 1, "format": "eth", "pattern": "ab", "budget": 6, "split_pubkey": q.format().hex()})
    hit = grind(job, PythonBackend(processes=1)).results[0]
    wrong = (d + 1) % CURVE_ORDER
    code = main(
        ["combine", "eth", "--private-key", f"{wrong:064x}", "--offset", hit.secret, "--identifier", hit.identifier]
    )
    assert code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "private key of the public key you gave" in err
    assert f"{wrong:064x}" not in err


@pytest.mark.parametrize(
    "pubkey",
    [
        "02" + "00" * 32,  # x = 0 is not on the curve
        "05" + "11" * 32,  # no such prefix
        "04" + "11" * 64,  # not on the curve
        "02" + "11" * 31,  # too short
        "not hex at all",
        "",
    ],
)
def test_bad_split_pubkeys_are_refused_clearly(pubkey: str) -> None:
    with pytest.raises(VanikeysError) as caught:
        GrindJob.parse({"v": 1, "format": "btc", "pattern": "ab", "budget": 6, "split_pubkey": pubkey})
    assert caught.value.code == "bad_pubkey"
    assert "hex" in str(caught.value)
