"""The semantic cache's verifier: hard rules, the logistic model, the candidate policy and the default thresholds."""

from __future__ import annotations

import pytest

from aiaas.semcache import DEFAULT_THRESHOLD, FALLBACK_THRESHOLD, choose, default_threshold, verify
from aiaas.semcache.coefficients import ACCEPT_PROBABILITY, AMBIGUITY_MARGIN, COEFFICIENTS, FEATURES
from aiaas.semcache.verifier import features, probability


@pytest.mark.parametrize(
    ("query", "candidate", "rule"),
    [
        ("How do I turn off two-factor authentication?", "How do I turn on two-factor authentication?", "antonym"),
        ("How do I enable dark mode?", "How do I disable dark mode?", "antonym"),
        ("How do I upgrade my plan?", "How do I downgrade my plan?", "antonym"),
        ("How do I lock my card?", "How do I unlock my card?", "antonym"),
        ("Can I change the address after ordering?", "Can I change the address before ordering?", "antonym"),
        ("Why can't I log in?", "Why can I log in?", "negation"),
        ("Does the plan include support?", "Does the plan not include support?", "negation"),
        ("Can I add 5 users?", "Can I add 10 users?", "number"),
        ("Can I add two users?", "Can I add 3 users?", "number"),
        ("How do I reset my password?", "How do I reset my username?", "slot_swap"),
        ("How do I cancel my order?", "How do I cancel my subscription?", "slot_swap"),
        ("How do I install the app on Android?", "How do I install the app on my iPhone?", "slot_swap"),
        ("Is the monthly plan refundable?", "Is the yearly plan refundable?", "slot_swap"),
        ("How do I delete my account?", "How do I delete my son's account?", "slot_extra"),
        ("How much does shipping take?", "How long does shipping take?", "slot_swap"),
        ("How do I move money from savings to checking?", "How do I move money from checking to savings?", "direction"),
    ],
)
def test_hard_rules_reject_meaning_flips_even_at_high_cosine(query: str, candidate: str, rule: str) -> None:
    pair = features(query, candidate, 0.97)
    assert pair.veto == rule
    assert verify(query, candidate, 0.97) is False
    assert verify(candidate, query, 0.97) is False


@pytest.mark.parametrize(
    ("query", "candidate"),
    [
        ("How do I reset my password?", "How do I reset my password?"),
        ("How do I reset my password?", "how do i reset my password"),
        ("How do I turn on two-factor authentication?", "How can I enable two factor authentication?"),
        ("How do I cancel my subscription?", "How can I cancel my subscription?"),
        ("What is the purpose of the torch.compile API?", 'What is the purpose of the "torch.compile" API?'),
    ],
)
def test_same_question_passes_at_high_cosine(query: str, candidate: str) -> None:
    pair = features(query, candidate, 0.96)
    assert pair.veto == ""
    assert probability(pair) >= ACCEPT_PROBABILITY
    assert verify(query, candidate, 0.96) is True


@pytest.mark.parametrize(
    ("query", "candidate"),
    [
        ("What time does the pharmacy open?", "What time does the bakery open?"),
        ("Do you ship to Peru?", "Do you ship to Chile?"),
        ("How long does express shipping take?", "How long does standard shipping take?"),
    ],
)
def test_one_word_swapped_on_a_short_question_is_another_question(query: str, candidate: str) -> None:
    assert features(query, candidate, 0.93).veto == "substitution"
    assert verify(query, candidate, 0.93) is False


def test_a_qualifier_on_one_side_of_a_short_question_narrows_it() -> None:
    assert features("Do you deliver to Spain for free?", "Do you deliver to Spain?", 0.91).veto == "qualifier"
    assert verify("Do you deliver to Spain for free?", "Do you deliver to Spain?", 0.91) is False
    # Not for statements, nor at a cosine where the extra word is only emphasis.
    assert features("We deliver to Spain for free.", "We deliver to Spain.", 0.91).veto == ""
    assert features("Do you deliver to Spain for free?", "Do you deliver to Spain?", 0.96).veto == ""


def test_framing_words_on_one_side_ask_the_same_thing() -> None:
    # "explain", "the term", "what does ... mean", "me": the same question, framed; the qualifier rule stays for
    # words that narrow it ("for free" above, "abroad" here).
    for query, candidate in [
        ("What is TorchX?", "Can you explain what TorchX is?"),
        ("What does the term DeFi mean?", "What is DeFi?"),
        ("Can you introduce yourself briefly?", "Can you introduce yourself?"),
        ('What is the "hello world" program in Python?', 'What is the Python "Hello World" sample program?'),
    ]:
        assert features(query, candidate, 0.93).veto == "", (query, candidate)
    assert features("Can I use my card abroad?", "Can I use my card?", 0.92).veto == "qualifier"


def test_arithmetic_and_inner_apostrophes_are_spelling() -> None:
    assert features("What is the result of 1+1?", "What is the result of 1 plus 1?", 0.95).jaccard == 1.0
    assert features('What is the meaning of "k\'8s"?', 'What is the meaning of "k8s"?', 0.93).jaccard == 1.0
    # "c++" and "c#" keep their signs: different languages.
    assert features("Is c++ faster than c?", "Is c# faster than c?", 0.95).veto == "slot_swap"
    assert features("What is 1+1?", "What is 1+2?", 0.97).veto == "number"


def test_substitution_rule_spares_inflections_long_texts_and_near_identical_vectors() -> None:
    assert features("Why does the app keep crashing?", "Why does the app crash?", 0.93).veto == ""
    assert features("What time does the pharmacy open?", "What time does the bakery open?", 0.96).veto == ""
    long_a = "When I open the settings page of the mobile app the whole screen turns white and nothing loads"
    long_b = "When I open the settings page of the mobile app the whole screen turns black and nothing loads"
    assert features(long_a, long_b, 0.93).veto == ""


def test_identical_text_has_full_overlap() -> None:
    pair = features("Why was my card declined?", "Why was my card declined?", 1.0)
    assert (pair.jaccard, pair.only_min, pair.only_max, pair.length_ratio) == (1.0, 0, 0, 1.0)
    assert not (pair.negation or pair.antonym or pair.slot_swap or pair.slot_extra or pair.number or pair.wh)


def test_low_cosine_lowers_probability() -> None:
    high = probability(features("How do I export my data?", "How can I export all my data?", 0.95))
    low = probability(features("How do I export my data?", "How can I export all my data?", 0.55))
    assert high > low
    assert verify("How do I export my data?", "How can I export all my data?", 0.3) is False


def test_contractions_and_phrases_are_normalised() -> None:
    pair = features("I can't sign in", "I cannot log in", 0.95)
    assert pair.negation is False
    assert pair.jaccard == 1.0


def test_choose_serves_the_nearest_question_only_when_verified() -> None:
    query = "How do I turn off email notifications?"
    same = ("How do I turn off email notifications?", 0.95)
    far = ("How do I delete my account?", 0.55)
    assert choose(query, [same, far], 0.9) == 0
    # The nearest cached question is vetoed (on vs off): a miss, even though the same question is next in line,
    # since a different question at least as close makes the query ambiguous.
    assert choose(query, [("How do I turn on email notifications?", 0.97), same, far], 0.9) is None
    assert choose(query, [("How do I turn off email notifications?", 0.85)], 0.9) is None
    assert choose(query, [], 0.9) is None


def test_choose_misses_when_the_query_sits_between_two_cached_questions() -> None:
    query = "How do I export my data?"
    close = [("How do I export my data?", 0.99), ("How do I export my contacts?", 0.97)]
    assert choose(query, close, 0.9, margin=0.05) is None
    assert choose(query, close, 0.9, margin=0.01) == 0
    # A rival holding the same text is the same entry's twin, not a different question.
    twins = [("How do I export my data?", 0.99), ("How do I export my data?", 0.99)]
    assert choose(query, twins, 0.9, margin=0.05) == 0
    # A rival far enough below does not make the query ambiguous; the default margin is the committed one.
    assert choose(query, [("How do I export my data?", 0.99), ("How do I import my data?", 0.80)], 0.9) == 0


def test_thresholds_per_embedder() -> None:
    assert FALLBACK_THRESHOLD == 0.92
    assert default_threshold("an-embedder-never-evaluated") == 0.92
    assert DEFAULT_THRESHOLD
    for name, threshold in DEFAULT_THRESHOLD.items():
        assert default_threshold(name) == threshold
        assert 0.5 <= threshold <= 1.0


def test_coefficients_match_the_feature_vector() -> None:
    assert len(COEFFICIENTS) == len(FEATURES) == len(features("a", "b", 0.5).as_vector())
    assert FEATURES[0] == "bias" and FEATURES[1] == "cosine"
    assert COEFFICIENTS[1] > 0, "a higher cosine must make a pair more likely the same question"
    assert 0.0 < ACCEPT_PROBABILITY < 1.0
    assert 0.0 <= AMBIGUITY_MARGIN < 0.2


def test_between_questions_a_rival_the_verifier_rules_out_is_no_coin_toss() -> None:
    query = "How do I turn on dark mode?"
    nearest = ("How do I turn on dark mode?", 0.99)
    # Within the margin, but on vs off: the verifier rules it out for this query, so the nearest answers.
    assert choose(query, [nearest, ("How do I turn off dark mode?", 0.97)], 0.9) == 0
    # A rival the verifier would accept for the query makes it a coin toss.
    assert choose(query, [nearest, ("How can I turn on dark mode?", 0.97)], 0.9) is None
    # Statements keep the strict rule: any different text within the margin is a rival.
    statement = "Dark mode is turned on in settings."
    assert choose(statement, [(statement, 0.99), ("Dark mode is turned off in settings.", 0.97)], 0.9) is None


def test_a_rewording_of_the_nearest_entry_is_no_rival() -> None:
    query = "How can I reset my password?"
    candidates = [("How do I reset my password?", 0.97), ("How can I reset my password please?", 0.955)]
    assert choose(query, candidates, 0.9) is None  # without the entries' cosine to each other: a rival
    assert choose(query, candidates, 0.9, to_nearest=[1.0, 0.96]) == 0  # each other's rewording: one question
    # Far apart from each other, they are two questions after all.
    assert choose(query, candidates, 0.9, to_nearest=[1.0, 0.6]) is None
