"Shared fixtures: a faithful Ollama test server on 127.0.0.1 (see tests/ollama_server.py)."
import pytest
from ollama_server import OllamaServer

@pytest.fixture
def ollama_server():
    "A factory: `ollama_server(latency=0.05, parallel=4, ...)` starts a server, stopped when the test ends."
    started = []
    def make(**knobs):
        srv = OllamaServer(**knobs).start(); started.append(srv); return srv
    yield make
    for srv in started: srv.stop()
