"""Pure dedup: text normalisation, shingles, MinHash signatures, LSH bands, title numbers."""

from __future__ import annotations

import random

import pytest

from storage.dedup import (
    BANDS,
    MINHASH_SCHEME,
    MINHASH_SEED,
    NUM_PERM,
    Signature,
    band_hashes,
    content_hash,
    estimate_jaccard,
    jaccard,
    normalise_text,
    shingles,
    signature,
    text_signature,
    title_numbers,
    titles_conflict,
    tokens,
)

# Fixture texts written for these tests (not taken from any real page).
RELEASE = (
    "The harbour city welcomed the third Robotics and Automation Fair on Thursday, with about four hundred "
    "companies filling two exhibition halls near the river. Visitors queued early to watch welding arms, "
    "warehouse carts and a bionic hand that can sort small parts by touch. "
    "Organisers said the fair would stay open for four days and that a separate hall is reserved for "
    "start-ups showing sensors, control software and training kits for vocational schools. "
    "A forum on the first morning discussed how mid-sized factories can afford automation, and a regional "
    "bank announced a loan programme for equipment upgrades. "
    "Next year the fair plans to add an outdoor area for agricultural drones and field robots, the "
    "organising committee said in a statement released after the opening ceremony."
)
RELEASE_ZH = (
    "第三届机器人与自动化博览会周四在港口城市开幕，约四百家企业参展，展区分布在河边的两个展馆。"
    "观众一早排队观看焊接机械臂、仓储搬运车以及一只能凭触觉分拣小零件的仿生手。"
    "组委会表示，本届博览会为期四天，另设初创企业展区，展示传感器、控制软件和职业院校实训设备。"
    "首日上午的论坛讨论了中型工厂如何负担得起自动化改造，一家地方银行宣布推出设备升级贷款计划。"
)


def test_normalised_text_ignores_case_spacing_punctuation_and_width():
    assert normalise_text("  The EXPO  opens,\n on June 20! ") == "the expo opens on june 20"
    assert normalise_text("ＡＩ大会（天津）") == normalise_text("AI大会(天津)")
    assert content_hash("The expo opens, on June 20.") == content_hash("the expo opens on june 20")
    assert content_hash("The expo opens on June 20.") != content_hash("The expo opens on June 21.")


def test_latin_text_is_shingled_by_words_and_cjk_by_characters():
    assert tokens("5G网络 in 天津") == ["5g", "网", "络", "in", "天", "津"]
    latin = shingles("one two three four five")
    assert latin == {"one two three four", "two three four five"}
    cjk = shingles("世界智能大会开幕")
    assert cjk == {"世界智能大", "界智能大会", "智能大会开", "能大会开幕"}
    assert shingles("") == frozenset()
    assert shingles("short text") == {"short text"}


def test_a_chinese_and_an_english_version_share_nothing():
    assert jaccard(shingles(RELEASE), shingles(RELEASE_ZH)) == 0.0
    assert not set(band_hashes(text_signature(RELEASE))) & set(band_hashes(text_signature(RELEASE_ZH)))


def test_signature_estimates_jaccard_and_survives_storage():
    rng = random.Random(7)
    words = [f"w{i}" for i in range(3000)]
    a = set(rng.sample(words, 600))
    b = set(rng.sample(sorted(a), 450)) | set(rng.sample(words, 150))
    sig_a, sig_b = signature(a), signature(b)
    assert abs(estimate_jaccard(sig_a, sig_b) - jaccard(a, b)) < 0.1
    stored = Signature.from_bytes(sig_a.to_bytes())
    assert stored.shingle_count == len(a)
    assert estimate_jaccard(stored, sig_a) == 1.0
    assert len(sig_a.to_bytes()) < 5 * NUM_PERM


def test_signatures_stay_those_of_the_pinned_datasketch_scheme():
    """Stored signatures must keep matching: the same values as a MinHash built from scratch."""
    from datasketch import MinHash

    shingle_set = shingles(RELEASE)
    fresh = MinHash(num_perm=NUM_PERM, seed=MINHASH_SEED, scheme=MINHASH_SCHEME)
    fresh.update_batch([s.encode("utf-8") for s in shingle_set])
    assert signature(shingle_set).hashvalues.tolist() == fresh.hashvalues.tolist()
    assert signature(shingle_set).hashvalues.tolist() == signature(shingle_set).hashvalues.tolist()


@pytest.mark.parametrize("blob", [b"", b"xx", b"MHa0" + bytes(800), text_signature("a b c d e").to_bytes()[:-4]])
def test_a_malformed_stored_signature_is_a_clear_error(blob):
    with pytest.raises(ValueError, match="minhash signature"):
        Signature.from_bytes(blob)


def test_band_hashes_are_signed_64_bit_and_shared_only_by_similar_texts():
    bands = band_hashes(text_signature(RELEASE))
    assert len(bands) == BANDS
    assert all(-(2 ** 63) <= b < 2 ** 63 for b in bands)
    assert any(b < 0 for b in bands) or any(b >= 2 ** 62 for b in bands)  # the full range is used
    copy = "HARBOUR CITY, May 9 (Wire) -- " + RELEASE + " Media contact: press office."
    assert set(bands) & set(band_hashes(text_signature(copy)))
    other = RELEASE.replace("Robotics and Automation Fair", "Textile Fair").split(". ")[0] + \
        ". Farmers brought cattle and sheep to the county show, where judges awarded prizes for wool."
    assert not set(bands) & set(band_hashes(text_signature(other)))
    assert band_hashes(text_signature("")) == []


@pytest.mark.parametrize(("title", "numbers"), [
    ("SCE Daily Brief | August 27", {27}),
    ("The Fifth World Intelligence Congress opens in 2021", {5, 2021}),
    ("5th WIC to open next month", {5}),
    ("第五届世界智能大会开幕", {5}),
    ("第二十三期简报：十月二十日", {23, 10, 20}),
    ("二〇二四世界智能产业博览会", set()),  # a bare year in Chinese numerals has no marker: left alone
    ("二〇二四年世界智能产业博览会", {2024}),
    ("World Intelligence Expo opens", set()),
    (None, set()),
])
def test_title_numbers(title, numbers):
    assert title_numbers(title) == numbers


@pytest.mark.parametrize(("a", "b", "conflict"), [
    ("SCE Daily Brief | August 27", "SCE Daily Brief | August 28", True),
    ("2023 World Intelligent Manufacturing Conference Opens", "2024 World Intelligent Manufacturing Conference Opens", True),
    ("The 5th WIC opens", "The sixth WIC opens", True),
    ("第五届世界智能大会开幕", "第六届世界智能大会开幕", True),
    ("Expo opens with 300 firms", "Tianjin, June 3: expo opens with 300 firms", False),  # a copy adds a date
    ("The 5th WIC opens in 2021", "WIC opens", False),  # a copy drops the numbers
    ("Expo opens", "Expo is open", False),
    (None, "2024 Expo", False),
])
def test_titles_conflict_when_their_numbers_cannot_be_one_story(a, b, conflict):
    assert titles_conflict(a, b) is conflict
    assert titles_conflict(b, a) is conflict
