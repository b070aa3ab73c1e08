"""A protocol-faithful fake LLM provider server for tests (OpenAI, Anthropic, DashScope, ...).

``async with running_fake_provider() as fake: fake.url`` serves it over a real socket in the
test's own event loop; see ``app.py`` for the routes and ``state.py`` for scripted faults.
"""
