#!/usr/bin/env python3
"""Writes src/ActorLlm.Inference/Tokenization/UnicodeNormalization.txt, the tables of Unicode normalization
(NFC, NFD, NFKC, NFKD) that Tokenization/UnicodeNormalizer.cs reads. The build runs with invariant globalization,
under which .NET's string.Normalize does nothing, so the tokenizer carries its own tables.

The data is Python's unicodedata, cut to the characters assigned by Unicode 9.0 (their Age, from Perl's
Unicode::UCD): Hugging Face's tokenizers normalizes with Unicode 9.0 tables (measured over every code point through
Tokenizers.DotNet: every difference from newer tables was a character assigned in Unicode 10.0 or later, which it
treats as unassigned), and the tokenizer must give Hugging Face's ids. Normalization data of an assigned character
never changes (Unicode's stability policy), so cutting by age gives exactly the older tables.

Needs python3 and perl (both in Debian's base system). Run from the repository root:
python3 scripts/make_unicode_normalization_data.py

Format, one table per line after the header, entries separated by ';', code points in hex:
  ccc     start[-end]=class         canonical combining class (only non-zero classes)
  nfd     cp=cp cp ...              full canonical decomposition (Hangul syllables are algorithmic, not listed)
  nfkd    cp=cp cp ...              full compatibility decomposition, where it differs from the canonical one
  compose first second=composite    primary composites (canonical pairs that NFC recomposes)
"""
import os
import subprocess
import unicodedata

HANGUL = range(0xAC00, 0xD7A4)
UNICODE_VERSION = (9, 0)


def assigned_by_version():
    """Whether each code point was assigned by UNICODE_VERSION (Perl's Age property)."""
    ranges = subprocess.run(
        ["perl", "-MUnicode::UCD=prop_invmap", "-e",
         'my ($l, $m) = prop_invmap("Age"); for my $i (0 .. $#$l) {'
         ' print "$l->[$i] ", ($i < $#$l ? $l->[$i + 1] - 1 : 0x10FFFF), " $m->[$i]\\n" }'],
        check=True, capture_output=True, text=True).stdout.split("\n")
    assigned = bytearray(0x110000)
    for line in filter(None, ranges):
        first, last, age = line.split()
        if age != "Unassigned" and tuple(int(p) for p in age.split(".")) <= UNICODE_VERSION:
            assigned[int(first):int(last) + 1] = b"\x01" * (int(last) - int(first) + 1)
    return assigned


ASSIGNED = assigned_by_version()


def chars():
    for cp in range(0x110000):
        if 0xD800 <= cp <= 0xDFFF or cp in HANGUL or not ASSIGNED[cp]:
            continue
        yield cp, chr(cp)


def hexes(text):
    return " ".join(f"{ord(c):X}" for c in text)


ccc = []
run = None
for cp, ch in chars():
    value = unicodedata.combining(ch)
    if run and run[1] == cp - 1 and run[2] == value:
        run[1] = cp
        continue
    if run and run[2]:
        ccc.append(run)
    run = [cp, cp, value]
if run and run[2]:
    ccc.append(run)

nfd, nfkd, compose = [], [], []
for cp, ch in chars():
    canonical = unicodedata.normalize("NFD", ch)
    compatibility = unicodedata.normalize("NFKD", ch)
    if canonical != ch:
        nfd.append(f"{cp:X}={hexes(canonical)}")
    if compatibility != canonical:
        nfkd.append(f"{cp:X}={hexes(compatibility)}")
    # A primary composite: its one-level canonical decomposition is a pair that NFC puts back together.
    mapping = unicodedata.decomposition(ch)
    if mapping and not mapping.startswith("<"):
        parts = [int(p, 16) for p in mapping.split()]
        if len(parts) == 2 and unicodedata.normalize("NFC", chr(parts[0]) + chr(parts[1])) == ch:
            compose.append(f"{parts[0]:X} {parts[1]:X}={cp:X}")

lines = [
    f"# Unicode normalization tables: Python's unicodedata {unicodedata.unidata_version} cut to the characters of Unicode"
    f" {UNICODE_VERSION[0]}.{UNICODE_VERSION[1]}, written by scripts/make_unicode_normalization_data.py",
    "ccc " + ";".join(f"{a:X}={c}" if a == b else f"{a:X}-{b:X}={c}" for a, b, c in ccc),
    "nfd " + ";".join(nfd),
    "nfkd " + ";".join(nfkd),
    "compose " + ";".join(compose),
]
target = os.path.join("src", "ActorLlm.Inference", "Tokenization", "UnicodeNormalization.txt")
with open(target, "w", encoding="ascii", newline="\n") as f:
    f.write("\n".join(lines) + "\n")
print(f"{target}: {len(ccc)} ccc ranges, {len(nfd)} canonical, {len(nfkd)} compatibility, {len(compose)} compositions")
