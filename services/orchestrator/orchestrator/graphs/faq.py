"""FAQ: classify (model) -> retrieve (`kb.search`, hybrid) -> answer with citations (model).

The reply is `{answer, category, classified_by, citations: [{document_id, filename, section, page, chunk_id}]}`;
the text is the answer with its citation markers `[n]` (n = the citation's position, from 1) and a list of the
sources. A model may answer anything (the default alias is the provider simulator's seeded text), so the category
falls back to keyword rules when the model's answer is not one of the categories (`classified_by` says which), and
markers are added for the sources the answer was given when the model wrote none.
"""

from __future__ import annotations

import re
from typing import Any, TypedDict

from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph
from langgraph.runtime import Runtime

from orchestrator.engine.context import RunContext
from orchestrator.graphs.common import Actions, context, output

__all__ = ["ANSWER_PROMPT", "CATEGORIES", "CLASSIFY_PROMPT", "FaqState", "build", "classify_by_rules", "with_markers"]

CATEGORIES = ("orders", "shipping", "returns", "payments", "account", "products", "other")
# Keyword rules, first match wins (a question about a refund is about returns before payments).
_RULES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("returns", ("return", "refund", "exchange", "damaged", "warranty")),
    ("shipping", ("ship", "deliver", "parcel", "courier", "tracking", "postage")),
    ("payments", ("pay", "card", "charge", "invoice", "billing", "price")),
    ("orders", ("order", "cancel", "purchase")),
    ("account", ("account", "password", "login", "sign in", "email")),
    ("products", ("coffee", "grinder", "bean", "roast", "product", "brew")),
)
TOP_K = 4
_MARKER = re.compile(r"\[(\d{1,2})\]")
NO_SOURCES = "I could not find this in the help centre. A member of our team will get back to you."
# The system prompts (the manifest's prompt_version names this text): read when a node runs, so a prompt change is
# one edit here and shows in the episode record's model requests (and in replay, at the first affected step).
CLASSIFY_PROMPT = (
    "Classify the customer's question into exactly one of: "
    + ", ".join(CATEGORIES)
    + ". Answer with the category only."
)
ANSWER_PROMPT = (
    "Answer the customer's question from these help-centre passages only, and cite the passages you used as [n]."
)


class FaqState(TypedDict, total=False):
    input: dict[str, Any]
    category: str
    classified_by: str
    chunks: list[dict[str, Any]]
    output: dict[str, Any]
    actions: Actions


def classify_by_rules(question: str) -> str:
    lowered = question.lower()
    for category, words in _RULES:
        if any(word in lowered for word in words):
            return category
    return "other"


def with_markers(answer: str, count: int) -> str:
    """`answer` with citation markers: kept when it has valid ones, else `[1]..[count]` appended."""
    valid = [int(n) for n in _MARKER.findall(answer) if 1 <= int(n) <= count]
    if valid or count == 0:
        return answer
    return f"{answer.rstrip()} " + "".join(f"[{n}]" for n in range(1, count + 1))


async def _classify(state: FaqState, runtime: Runtime[RunContext]) -> dict[str, Any]:
    node = context(runtime).node("classify")
    question = str(state["input"]["question"])
    reply = await node.llm(
        [
            {"role": "system", "content": CLASSIFY_PROMPT},
            {"role": "user", "content": question},
        ],
        max_tokens=8,
    )
    said = str(reply.get("text", "")).strip().strip(".").lower()
    if said in CATEGORIES:
        return {"category": said, "classified_by": "model"}
    return {"category": classify_by_rules(question), "classified_by": "rules"}


async def _retrieve(state: FaqState, runtime: Runtime[RunContext]) -> dict[str, Any]:
    node = context(runtime).node("retrieve")
    query = str(state["input"]["question"])
    found = await node.tool("kb.search", {"query": query, "mode": "hybrid", "top_k": TOP_K}, kind="retrieve")
    results = found.get("results", []) if isinstance(found, dict) else []
    chunks = [
        {
            "chunk_id": str(hit["chunk_id"]),
            "content": str(hit.get("content", "")),
            "score": hit.get("score"),
            "document_id": str(hit["citation"]["document_id"]),
            "filename": hit["citation"].get("filename"),
            "section": hit["citation"].get("section"),
            "page": hit["citation"].get("page"),
        }
        for hit in results[:TOP_K]
    ]
    return {"chunks": chunks}


async def _answer(state: FaqState, runtime: Runtime[RunContext]) -> dict[str, Any]:
    node = context(runtime).node("answer")
    question = str(state["input"]["question"])
    chunks = state.get("chunks", [])
    citations = [
        {
            "document_id": c["document_id"],
            "filename": c["filename"],
            "section": c["section"],
            "page": c["page"],
            "chunk_id": c["chunk_id"],
        }
        for c in chunks
    ]
    reply: dict[str, Any] = {
        "category": state.get("category", "other"),
        "classified_by": state.get("classified_by", "rules"),
        "citations": citations,
    }
    if not chunks:
        reply["answer"] = NO_SOURCES
        return {"output": output(reply, NO_SOURCES, [])}
    sources = "\n\n".join(f"[{n}] {c['content']}" for n, c in enumerate(chunks, 1))
    answered = await node.llm(
        [
            {"role": "system", "content": f"{ANSWER_PROMPT}\n\n{sources}"},
            {"role": "user", "content": question},
        ],
        max_tokens=300,
    )
    answer = with_markers(str(answered.get("text", "")).strip() or "See the sources below.", len(chunks))
    reply["answer"] = answer
    listing = "\n".join(f"[{n}] {_where(c)}" for n, c in enumerate(chunks, 1))
    return {"output": output(reply, f"{answer}\n\nSources:\n{listing}", [])}


def _where(chunk: dict[str, Any]) -> str:
    parts = [str(chunk.get("filename") or "document")]
    if chunk.get("section"):
        parts.append(str(chunk["section"]))
    if chunk.get("page"):
        parts.append(f"p. {chunk['page']}")
    return ", ".join(parts)


def build() -> CompiledStateGraph[Any, Any, Any, Any]:
    graph = StateGraph(FaqState, context_schema=RunContext)
    graph.add_node("classify", _classify)
    graph.add_node("retrieve", _retrieve)
    graph.add_node("answer", _answer)
    graph.add_edge(START, "classify")
    graph.add_edge("classify", "retrieve")
    graph.add_edge("retrieve", "answer")
    graph.add_edge("answer", END)
    return graph.compile()
