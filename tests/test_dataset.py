"Token files, TextDataset, sampler and loaders: round trips, splits, determinism, resume, workers, bad input."
import json, os, pickle, subprocess, sys
from pathlib import Path
import numpy as np
import pytest
import torch
from gptdata.core import GptdataError
from gptdata.samples import Sample, SampleStore
from gptdata.tokenizer import CompactVocab, Tokenizer, get_tokenizer
from gptdata.dataset import (write_token_files, read_meta, TextDataset, WindowSampler, Permutation, get_batch,
                             tokenize_cli, split_of)

EOT = "<|endoftext|>"
WORDS = "alpha beta gamma delta the quick brown fox jumps over lazy dog café naïve 東京 ünïcödé".split()

def corpus(n=300, seed=0):
    rng = np.random.default_rng(seed)
    return [Sample(" ".join(rng.choice(WORDS, size=rng.integers(3, 30))) + f" #{i}", domain="test", method="template")
            for i in range(n)]

@pytest.fixture(scope="module")
def samples(): return corpus()

@pytest.fixture(scope="module")
def built(tmp_path_factory, samples):
    d = tmp_path_factory.mktemp("tok")
    return d, write_token_files(samples, d, block_size=8, extra_meta={"domain": "test", "config": {"x": 1}})

@pytest.fixture(scope="module")
def compact(tmp_path_factory, samples):
    d = tmp_path_factory.mktemp("cmp")
    return d, write_token_files(samples, d, compact=True, block_size=8)

def split_texts(ds):
    "The sample texts stored in a dataset's file, in order."
    return ds.decode(ds.data).split(EOT)[:-1]

# ---------------------------------------------------------------- token files
def test_round_trip_and_split_never_cuts(built, samples):
    d, meta = built
    tr, va = TextDataset.from_dir(d, "train", 8), TextDataset.from_dir(d, "val", 8)
    want = {k: [s.text for s in samples if split_of(s.id, 0, 0.1) == k] for k in ("train", "val")}
    assert split_texts(tr) == want["train"] and split_texts(va) == want["val"]  # whole samples, original order
    assert (meta["train_samples"], meta["val_samples"]) == (len(want["train"]), len(want["val"]))
    assert meta["train_tokens"] == len(tr.data) and meta["val_tokens"] == len(va.data)
    assert tr.data[-1] == meta["eot_id"] and (tr.data == meta["eot_id"]).sum() == meta["train_samples"]

def test_meta_contract(built):
    d, meta = built
    on_disk = json.loads((d/"meta.json").read_text())
    assert on_disk == meta
    for k in ("encoding", "vocab_size", "dtype", "train_tokens", "val_tokens", "train_samples", "val_samples",
              "eot_id", "domain", "method", "compact"):
        assert k in meta
    assert meta["domain"] == "test" and meta["method"] == "template" and meta["config"] == {"x": 1}
    assert meta["compact"] is None and meta["encoding"] == "cl100k_base"
    assert sorted(p.name for p in d.iterdir()) == ["meta.json", "train.bin", "val.bin"]  # no temporaries left

def test_windows_decode_to_text(built):
    d, _ = built
    ds = TextDataset.from_dir(d, "train", block_size=16, stride=16)
    ids = np.concatenate([ds[i][0].numpy() for i in range(len(ds))])  # non-overlapping windows tile the file
    assert np.array_equal(ids, ds.data[:len(ids)]) and ds.decode(ids) + ds.decode(ds.data[len(ids):]) == ds.decode(ds.data)
    tok = get_tokenizer()
    for i in (0, 3, len(ds) - 1):
        x, y = ds[i]
        assert ds.decode(x) == tok.decode(ds.data[i*16:i*16+16]) and torch.equal(x[1:], y[:-1])

def test_determinism(tmp_path, samples):
    a = write_token_files(samples, tmp_path/"a", seed=3)
    b = write_token_files(iter(samples), tmp_path/"b", seed=3)  # any iterable
    c = write_token_files(samples, tmp_path/"c", seed=4)
    assert a == b and (tmp_path/"a/train.bin").read_bytes() == (tmp_path/"b/train.bin").read_bytes()
    assert (tmp_path/"a/meta.json").read_bytes() == (tmp_path/"b/meta.json").read_bytes()
    assert (a["val_samples"], a["val_tokens"]) != (c["val_samples"], c["val_tokens"]) or \
        (tmp_path/"a/val.bin").read_bytes() != (tmp_path/"c/val.bin").read_bytes()

def test_jsonl_path_and_strings(tmp_path, samples):
    p = tmp_path/"s.jsonl"
    with SampleStore(p) as st: st.extend(samples)
    m1 = write_token_files(p, tmp_path/"a")
    m2 = write_token_files(str(p), tmp_path/"b")
    m3 = write_token_files([s.text for s in samples], tmp_path/"c")  # plain strings: ids from text alone
    assert (tmp_path/"a/train.bin").read_bytes() == (tmp_path/"b/train.bin").read_bytes()
    assert m1["train_tokens"] + m1["val_tokens"] == m3["train_tokens"] + m3["val_tokens"]
    assert m3["method"] == "user"

def test_dtype_choice(tmp_path, samples, compact):
    assert write_token_files(samples[:100], tmp_path/"cl", val_fraction=0.3)["dtype"] == "uint32"  # cl100k: 100,277 ids
    d, meta = compact
    assert meta["dtype"] == "uint16" and (d/"train.bin").stat().st_size == 2 * meta["train_tokens"]
    small = Tokenizer.__new__(Tokenizer)  # an encoding whose ids all fit in uint16
    import tiktoken
    base = get_tokenizer().enc
    small.name, small.num_threads = "tiny", 1
    small.enc = tiktoken.Encoding("tiny", pat_str=base._pat_str,
                                  mergeable_ranks={bytes([i]): i for i in range(256)}, special_tokens={"<|endoftext|>": 256})
    small.eot, small.n_vocab = 256, small.enc.n_vocab
    m = write_token_files(samples[:100], tmp_path/"tiny", tokenizer=small, val_fraction=0.3)
    assert m["dtype"] == "uint16" and m["vocab_size"] == 257 and m["eot_id"] == 256

def test_compact_round_trip(built, compact, samples):
    (d, meta), (dc, cmeta) = built, compact
    assert cmeta["vocab_size"] == len(cmeta["compact"]["ids"]) < 2**16
    cv = CompactVocab.from_json(cmeta["compact"])
    full = np.fromfile(d/"train.bin", dtype=np.uint32)
    assert np.array_equal(cv.decode(np.fromfile(dc/"train.bin", dtype=np.uint16)), full)
    assert set(np.unique(full).tolist()) <= set(cmeta["compact"]["ids"]) and cmeta["eot_id"] == int(cv.encode([100257])[0])
    ds = TextDataset.from_dir(dc, "val", 8)
    assert split_texts(ds) == [s.text for s in samples if split_of(s.id) == "val"]
    assert int(ds.data.max()) < ds.vocab_size

def test_from_samples_and_array(samples):
    ds = TextDataset.from_samples(samples[:40], block_size=8, compact=True)
    assert split_texts(ds) == [s.text for s in samples[:40]]
    ds2 = TextDataset.from_samples([s.text for s in samples[:40]], block_size=8)
    assert ds2.decode(ds2.data) == ds.decode(ds.data)
    arr = TextDataset(torch.arange(100), block_size=10, stride=10)
    assert len(arr) == 9 and arr[8][1].tolist() == list(range(81, 91))

# ---------------------------------------------------------------- TextDataset
def test_len_stride_and_shift():
    for n, T, s in [(20, 4, 1), (20, 4, 3), (21, 4, 4), (5, 4, 1), (100, 7, 100)]:
        ds = TextDataset(np.arange(n), T, s)
        assert len(ds) == (n - T - 1) // s + 1
        last = ds[len(ds) - 1]
        assert last[1][-1] <= n - 1 and torch.equal(last[0] + 1, last[1])
        with pytest.raises(IndexError): ds[len(ds)]

def test_batch_gather_matches_items(compact):
    ds = TextDataset.from_dir(compact[0], "train", block_size=8, stride=3)
    idx = np.random.default_rng(0).integers(0, len(ds), 50)
    x, y = ds.windows(idx)
    assert torch.equal(x, torch.stack([ds[int(i)][0] for i in idx])) and torch.equal(y, torch.stack([ds[int(i)][1] for i in idx]))
    assert x.dtype == torch.int64 and x.is_contiguous()
    x[0, 0] = -1; assert y.min() >= 0  # x and y do not alias

def test_picklable_and_lazy(compact):
    ds = TextDataset.from_dir(compact[0], "train", block_size=8)
    ds[0]
    blob = pickle.dumps(ds)
    assert len(blob) < 50_000  # a path, not the tokens
    assert torch.equal(pickle.loads(blob)[5][0], ds[5][0])

# ---------------------------------------------------------------- sampler and loader
def test_sampler_determinism_and_epochs():
    a, b = WindowSampler(1000, 32, seed=7), WindowSampler(1000, 32, seed=7)
    ea = [x.tolist() for x in a]; assert ea == [x.tolist() for x in b]
    assert sorted(sum(ea, [])) == list(range(1000))
    a.set_epoch(1); assert [x.tolist() for x in a] != ea
    assert [x.tolist() for x in WindowSampler(1000, 32, seed=8)] != ea
    assert [x.tolist() for x in WindowSampler(1000, 32, shuffle=False)][0] == list(range(32))
    assert len(WindowSampler(1000, 32, drop_last=True)) == 31 and len(WindowSampler(1000, 32)) == 32

@pytest.mark.parametrize("n,world", [(1000, 2), (1001, 4), (17, 3), (5, 5)])
def test_sharding_disjoint(n, world):
    parts = [np.concatenate(list(WindowSampler(n, 4, seed=1, rank=r, world_size=world))) for r in range(world)]
    allidx = np.concatenate(parts)
    assert len(np.unique(allidx)) == len(allidx) == (n // world) * world
    assert len({len(p) for p in parts}) == 1

def test_sharding_from_torch_distributed(monkeypatch):
    import torch.distributed as dist
    monkeypatch.setattr(dist, "is_initialized", lambda: True)
    monkeypatch.setattr(dist, "get_rank", lambda: 1); monkeypatch.setattr(dist, "get_world_size", lambda: 3)
    s = WindowSampler(30, 4)
    assert (s.rank, s.world_size) == (1, 3)
    assert WindowSampler(30, 4, rank=0, world_size=1).world_size == 1  # explicit arguments win

def test_loader_resume_exact(compact):
    ds = TextDataset.from_dir(compact[0], "train", block_size=8)
    dl = ds.dataloader(16, seed=5)
    next(iter(dl))  # a peek does not skip anything
    epoch0 = [x for x, _ in dl]
    assert len(epoch0) == len(dl) and dl.sampler.epoch == 1
    it = iter(dl)
    head = [next(it)[0] for _ in range(4)]
    state = json.loads(json.dumps(dl.state_dict()))  # a checkpoint stores plain JSON
    assert (state["epoch"], state["position"]) == (1, 4)
    tail = [x for x, _ in it]
    dl2 = ds.dataloader(16, seed=5); dl2.load_state_dict(state)
    resumed = [x for x, _ in dl2]
    assert len(resumed) == len(tail) and all(torch.equal(a, b) for a, b in zip(resumed, tail))
    dl3 = ds.dataloader(16, seed=5); dl3.set_epoch(1)
    assert all(torch.equal(a, b) for a, b in zip([x for x, _ in dl3], head + tail))
    with pytest.raises(GptdataError, match="cannot resume"): ds.dataloader(8, seed=5).load_state_dict(state)

def test_loader_workers(compact):
    ds = TextDataset.from_dir(compact[0], "train", block_size=8, stride=8)
    ref = [(x, y) for x, y in ds.dataloader(8, seed=2)]
    dl = ds.dataloader(8, seed=2, num_workers=2)
    got = [(x, y) for x, y in dl]
    assert len(got) == len(ref) and all(torch.equal(a[0], b[0]) and torch.equal(a[1], b[1]) for a, b in zip(got, ref))
    # resume with workers: position counts delivered batches, not prefetched ones
    it = iter(dl); [next(it) for _ in range(3)]
    assert dl.state_dict()["position"] == 3
    del it

def test_loader_is_a_dataloader(compact):
    from torch.utils.data import DataLoader
    ds = TextDataset.from_dir(compact[0], "train", block_size=8)
    assert isinstance(ds.dataloader(4), DataLoader)
    x, y = next(iter(DataLoader(ds, batch_size=4)))  # a plain DataLoader works too (per-item path)
    assert x.shape == (4, 8) and torch.equal(x[:, 1:], y[:, :-1])

def test_permutation_is_bijection():
    for n in (1, 2, 7, 64, 65, 1000, 12345):
        assert np.array_equal(np.sort(Permutation(n, 9)(np.arange(n))), np.arange(n))

# ---------------------------------------------------------------- get_batch
def test_get_batch(compact):
    d = compact[0]
    x, y = get_batch("train", 5, 8, data_dir=d, generator=torch.Generator().manual_seed(0))
    x2, _ = get_batch("train", 5, 8, data_dir=d, generator=torch.Generator().manual_seed(0))
    assert x.shape == (5, 8) and x.dtype == torch.int64 and torch.equal(x, x2) and torch.equal(x[:, 1:], y[:, :-1])
    torch.manual_seed(1); a = get_batch("val", 3, 8, d)[0]
    torch.manual_seed(1); b = get_batch("val", 3, 8, d)[0]
    assert torch.equal(a, b)
    data = np.fromfile(d/"train.bin", dtype=np.uint16)  # every row is a real slice of the file
    rows = {tuple(data[i:i+8]) for i in range(len(data) - 8)}
    assert all(tuple(r.tolist()) in rows for r in x)

def test_get_batch_sees_rebuilt_files(tmp_path, samples):
    write_token_files(samples[:100], tmp_path, compact=True, val_fraction=0.3)
    get_batch("train", 2, 4, tmp_path)
    m = write_token_files(samples[100:250], tmp_path, compact=True, val_fraction=0.3)
    x, _ = get_batch("train", 200, 4, tmp_path)
    assert int(x.max()) < m["vocab_size"] and int(x.max()) > 0

# ---------------------------------------------------------------- bad input
def test_bad_block_size_and_stride(compact):
    d, meta = compact
    for bs in (0, -3, 2.5, True):
        with pytest.raises(GptdataError, match="block_size="): TextDataset.from_dir(d, "val", bs)
    with pytest.raises(GptdataError, match=f"not smaller than the {meta['val_tokens']:,} tokens in .*val.bin; use a smaller --block-size"):
        TextDataset.from_dir(d, "val", meta["val_tokens"])
    for st in (0, -1, 1.5):
        with pytest.raises(GptdataError, match="stride="): TextDataset.from_dir(d, "train", 8, stride=st)

def test_split_too_small_is_an_error(tmp_path, samples):
    with pytest.raises(GptdataError, match=r"val split would hold only .*--final-tokens.*--block-size"):
        write_token_files(samples[:30], tmp_path/"x", block_size=500)
    with pytest.raises(GptdataError, match=r"val split .*0 samples.*--val-fraction"):
        write_token_files(samples[:2], tmp_path/"y", val_fraction=0.01)
    assert not any((tmp_path/"x").iterdir()) and not any((tmp_path/"y").iterdir())  # nothing half-written
    m = write_token_files(samples[:2], tmp_path/"z", val_fraction=0)  # no validation wanted: fine
    assert m["val_tokens"] == 0

def test_failed_build_keeps_old_files(tmp_path, samples):
    write_token_files(samples, tmp_path)
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    def broken():
        yield from samples[:50]; raise RuntimeError("generator died")
    with pytest.raises(RuntimeError): write_token_files(broken(), tmp_path)
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before

def test_bad_meta(tmp_path, compact):
    d = compact[0]
    with pytest.raises(GptdataError, match="no token folder"): TextDataset.from_dir(tmp_path/"nope", block_size=4)
    for name in ("meta.json", "train.bin", "val.bin"): (tmp_path/name).write_bytes((d/name).read_bytes())
    (tmp_path/"meta.json").unlink()
    with pytest.raises(GptdataError, match=r"meta.json is missing; rebuild .*gptdata tokenize"): TextDataset.from_dir(tmp_path, block_size=4)
    (tmp_path/"meta.json").write_text('{"encoding": "cl100k_base", "vocab_')
    with pytest.raises(GptdataError, match=r"meta.json is corrupt.*rebuild"): TextDataset.from_dir(tmp_path, block_size=4)
    (tmp_path/"meta.json").write_text('{"encoding": "cl100k_base"}')
    with pytest.raises(GptdataError, match=r"meta.json is corrupt \(missing \['vocab_size'"): read_meta(tmp_path)
    meta = json.loads((d/"meta.json").read_text()); meta["dtype"] = "float32"
    (tmp_path/"meta.json").write_text(json.dumps(meta))
    with pytest.raises(GptdataError, match="dtype 'float32'"): TextDataset.from_dir(tmp_path, block_size=4)

def test_bad_bin(tmp_path, compact):
    d, meta = compact
    for name in ("meta.json", "train.bin", "val.bin"): (tmp_path/name).write_bytes((d/name).read_bytes())
    with open(tmp_path/"train.bin", "ab") as f: f.write(b"\x01")
    with pytest.raises(GptdataError, match=r"train.bin has .* bytes, not a multiple of 2 \(uint16\).*rebuild"):
        TextDataset.from_dir(tmp_path, "train", 4)
    (tmp_path/"train.bin").write_bytes((d/"train.bin").read_bytes()[:-2])
    with pytest.raises(GptdataError, match="but meta.json says"): TextDataset.from_dir(tmp_path, "train", 4)
    a = np.fromfile(d/"val.bin", dtype=np.uint16); a[7] = meta["vocab_size"] + 3; a.tofile(tmp_path/"val.bin")
    with pytest.raises(GptdataError, match=rf"val.bin: token 7 has id {meta['vocab_size'] + 3:,} >= vocab_size"):
        TextDataset.from_dir(tmp_path, "val", 4)
    (tmp_path/"val.bin").unlink()
    with pytest.raises(GptdataError, match="val.bin is missing"): get_batch("val", 2, 4, tmp_path)
    with pytest.raises(GptdataError, match="vocab_size"): TextDataset(np.array([1, 2, 900]), 2, meta={"vocab_size": 10})

def test_bad_arguments(tmp_path, samples):
    with pytest.raises(GptdataError, match="val_fraction=1"): write_token_files(samples, tmp_path, val_fraction=1)
    with pytest.raises(GptdataError, match="no sample file"): write_token_files(tmp_path/"none.jsonl", tmp_path/"o")
    assert not (tmp_path/"o").exists()
    with pytest.raises(GptdataError, match="extra_meta may not set"): write_token_files(samples, tmp_path, extra_meta={"dtype": "x"})
    with pytest.raises(GptdataError, match="batch_size"): WindowSampler(10, 0)
    with pytest.raises(GptdataError, match="rank=3"): WindowSampler(10, 2, rank=3, world_size=2)

# ---------------------------------------------------------------- command line
def test_cli(tmp_path, samples, capsys):
    p = tmp_path/"s.jsonl"
    with SampleStore(p) as st: st.extend(samples)
    assert tokenize_cli([str(p), "--out", str(tmp_path/"o"), "--compact", "--block-size", "8", "--seed", "2"]) == 0
    assert "train.bin" in capsys.readouterr().out
    m = read_meta(tmp_path/"o")
    assert (m["dtype"], m["seed"], m["block_size"], m["domain"]) == ("uint16", 2, 8, "test")
    assert TextDataset.from_dir(tmp_path/"o", "val").block_size == 8  # recorded block_size is the default
    assert tokenize_cli([str(p), "--out", str(tmp_path/"o2"), "--block-size", "0"]) == 2
    assert "block_size=0" in capsys.readouterr().err

def test_cli_subprocess(tmp_path, samples):
    p = tmp_path/"s.jsonl"
    with SampleStore(p) as st: st.extend(samples[:50])
    r = subprocess.run([sys.executable, "-c", "import sys; from gptdata.cli import main; sys.exit(main(sys.argv[1:]))",
                            "tokenize", str(p), "--out", str(tmp_path/"o"), "--block-size", "5000"], capture_output=True, text=True)
    assert r.returncode == 2 and "--block-size" in r.stderr and "Traceback" not in r.stderr

def test_import_does_not_load_torch():
    code = "import sys, gptdata.dataset; print('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout.strip() == "False"
