"gptdata: make training data for small GPT language models from a one-line request."
__version__ = "0.1.0"

# Public names load lazily, so `gptdata detect` or `gptdata build` never pays for torch or pandas it does not use.
# Each name maps to the module that defines it (see ARCHITECTURE.md, "Public contract").
_PUBLIC = {
    'GptdataError': 'core',
    'ModelSize': 'config', 'Budget': 'config', 'plan_budget': 'config', 'Timeouts': 'config',
    'GenerationDefaults': 'config',
    'Tokenizer': 'tokenizer', 'get_tokenizer': 'tokenizer', 'CompactVocab': 'tokenizer',
    'detect_domain': 'domains', 'DomainMatch': 'domains', 'Domain': 'domains', 'register_domain': 'domains',
    'get_domain': 'domains', 'list_domains': 'domains',
    'Sample': 'samples', 'SampleStore': 'samples', 'read_samples': 'samples', 'samples_df': 'samples',
    'Template': 'templates',
    'Ollama': 'llm', 'OpenAI': 'llm', 'check_server': 'llm',
    'DataGenerator': 'generator',
    'DataRefiner': 'refiner',
    'TextDataset': 'dataset', 'write_token_files': 'dataset', 'get_batch': 'dataset',
    'build': 'pipeline', 'BuildSummary': 'pipeline', 'BuildCancelled': 'pipeline', 'read_report': 'pipeline',
    'QualityScorer': 'quality', 'near_duplicate_clusters': 'dedup', 'diversity_report': 'metrics',
    'GptdataApp': 'widgets',
}
__all__ = sorted(_PUBLIC)

def __getattr__(name):
    if name in _PUBLIC:
        import importlib
        value = getattr(importlib.import_module(f"gptdata.{_PUBLIC[name]}"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'gptdata' has no attribute {name!r}")

def __dir__(): return sorted(set(globals()) | set(_PUBLIC))
