"Quality rules against real output: the template generator's samples pass, hand-written and test-server junk does not."
import random, sys
from collections import Counter
from pathlib import Path
import pytest
sys.path.insert(0, str(Path(__file__).parent))
from gptdata.quality import QualityScorer, analyse, check, default_rules
from gptdata.templates import render_samples

PROMPTS = {"cooking": "short vegetarian weeknight recipes", "poetry": "melancholy autumn poems",
           "technical": "REST API reference docs", "general": "history of the roman empire"}

@pytest.mark.parametrize("domain", sorted(PROMPTS))
def test_template_samples_pass(domain):
    texts = [t for t, _ in render_samples(domain, PROMPTS[domain], range(300), seed=0)]
    qs = QualityScorer(PROMPTS[domain], domain=domain)
    counts = Counter(qs.assess(t).rule for t in texts)
    print(domain, dict(counts))
    assert counts[None] / len(texts) >= 0.95, f"{domain}: only {counts[None]}/{len(texts)} pass; rejections {dict(counts)}"

def test_template_samples_pass_other_prompts():
    prompts = {"poetry": "haiku about the sea", "cooking": "hearty winter soups", "technical": "python asyncio tutorial",
               "general": "short stories about friendship"}
    for domain, prompt in prompts.items():
        texts = [t for t, _ in render_samples(domain, prompt, range(150), seed=1)]
        counts = Counter(check(analyse(t), default_rules())[0] for t in texts)
        print(domain, prompt, dict(counts))
        assert counts[None] / len(texts) >= 0.95, (domain, prompt, dict(counts))

JUNK = [  # (text, the rule expected to reject it)
    ("cheap flights best cheap flights deals book cheap flights now cheap flights london cheap flights paris "
     "cheap flights today great prices on cheap flights and hotels", "top_ngram"),
    ("tomato basil garlic onion pepper salt oil vinegar lemon thyme rosemary parsley carrot celery leek potato "
     "mushroom spinach kale chard rice beans lentils chickpeas pasta flour sugar butter cream cheese", "language"),
    ("new vegan recipes easy dinner ideas quick meals healthy lunch make ahead breakfast bowls best soup like grandma "
     "tofu curry use leftovers gluten free pasta salad budget meal prep spicy ramen", "stop_words"),
    ("\n".join(["Buy the best vegan recipes here today"] * 4 + ["Click now"]), "duplicate_lines"),
    (" ".join(["the keeper climbs the stairs and lights the lamp again"] * 5) + ".", "top_ngram"),
    ("Heat the oil in a wide pan and soften the onions slowly over a low flame for ten minutes. Add the garlic, "
     "the cumin and a pinch of salt. Heat the oil in a wide pan and soften the onions slowly over a low flame for "
     "ten minutes. Serve with rice.", "duplicated_ngrams"),
    ("As an AI language model, I do not have personal experiences, but I can describe an autumn evening.", "meta_text"),
    ("Sure! Here is a poem:", "meta_text"),
    ("I'm sorry, but I can't help with writing that recipe for you today.", "meta_text"),
    ("The leaves fall slowly over the quiet town and the river carries them away.\n\n"
     "Let me know if you would like another poem!", "meta_text"),
    (bytes(range(256)).decode("latin-1") * 2, "garbage"),
    (random.Random(0).randbytes(400).decode("utf-8", errors="replace"), "garbage"),
    ("Осенний ветер гонит жёлтые листья по пустой дороге вдоль тихой реки, и вечер становится холоднее.", "language"),
    ("秋天的风吹过空荡荡的街道，树叶落在河边。我们走过古老的桥，看着远处的山。夜晚来临，月亮升起，星星闪烁。", "language"),
    ("Der Herbstwind treibt die gelben Blätter über die leere Straße am Fluss entlang, und die Abende werden "
     "kälter, während die Vögel nach Süden ziehen und die Tage kürzer werden.", "language"),
    ("We chopped the onions and the garlic, warmed the oil in a wide pan, and then we added the", "truncated"),
    ("Preheat the oven to 200 degrees and roast the vegetables on the middle shelf until they", "truncated"),
    ("The old lighthouse keeper climbed the stairs every night and watched the ships pass by the rocks...", "truncated"),
    ("@@ ## !! ?? %% && ** ^^ ~~ ++ == // \\\\ << >> {} [] () ;; :: ||", "garbage"),
    ("alpha !! beta ?? gamma && delta %% epsilon @@ zeta ^^ theta ~~ iota", "alpha_words"),
    ("| 1 | 2 | 3 |\n|---|---|---|\n| 4 | 5 | 6 |\n| 7 | 8 | 9 |\n| 10 | 11 | 12 |", "garbage"),
    ("", "empty"),
]

@pytest.mark.parametrize("text,rule", JUNK, ids=[f"{i}-{r}" for i, (_, r) in enumerate(JUNK)])
def test_junk_rejected(text, rule):
    a = QualityScorer("short texts about autumn").assess(text)
    print(rule, a.rule, a.reason)
    assert a.rule == rule, (a.rule, a.reason)

def test_markup_is_not_junk():
    "Tables, fences and lists with words pass AlphaWords; the same markup without words does not pass the chain."
    doc = ("Arguments:\n| name | type | default |\n|---|---|---|\n| `filter` | string | `none` |\n| `locale` | string | `en-GB` |\n\n"
           "It returns a list of orders, or raises `NotFound` when the id is unknown.\n\n```\ncurl -X GET https://api.example.com/v3/orders\n```")
    assert check(analyse(doc), default_rules()) == (None, None)
    poem = "Grey light on the pier\nthe gulls go quiet\n" * 1 + "the tide turns over the stones\nthe lamps come on"
    assert check(analyse(poem), default_rules()) == (None, None)

def test_test_server_junk_rejected():
    "The test server's LLM-like failures: replies cut at num_predict mid-sentence, chat wrappers around the text."
    from ollama_server import make_text, _chatty
    prompt, qs = "short texts about the sea, the harbour and the night", QualityScorer("short texts about the sea")
    cut = [t for t, hit in (make_text(prompt, s, num_predict=40) for s in range(200)) if hit and t[-1] not in ".!?"]
    assert len(cut) > 20
    rules = Counter(qs.assess(t).rule for t in cut)
    assert rules[None] == 0 and rules["truncated"] >= 0.9 * len(cut), rules
    whole = [t for t, hit in (make_text(prompt, s, num_predict=100) for s in range(80)) if not hit]
    wrapped = [w for i, t in enumerate(whole) if (w := _chatty(random.Random(i), t, prompt)) != f'"{t}"']
    assert len(wrapped) > 20
    assert Counter(qs.assess(t).rule for t in wrapped) == {"meta_text": len(wrapped)}
    assert sum(qs.assess(t).ok for t in whole) >= 0.9 * len(whole)
