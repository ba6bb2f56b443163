"""Tool-call planning and argument synthesis."""

from __future__ import annotations

from provider_sim.tools import ToolChoice, ToolSpec, arguments_for, plan_tool_call

SCHEMA = {
    "type": "object",
    "properties": {
        "name": {"type": "string"},
        "count": {"type": "integer", "minimum": 3, "maximum": 4},
        "ratio": {"type": "number", "minimum": 0, "maximum": 1},
        "flag": {"type": "boolean"},
        "when": {"type": "string", "format": "date"},
        "mode": {"enum": ["fast", "slow"]},
        "nested": {"type": "object", "properties": {"inner": {"type": "integer"}}, "required": ["inner"]},
        "items": {"type": "array", "items": {"type": "string"}, "minItems": 2},
        "maybe": {"type": ["null", "integer"]},
        "optional": {"type": "string"},
    },
    "required": ["name", "count", "ratio", "flag", "when", "mode", "nested", "items", "maybe"],
}
TOOLS = [ToolSpec("search_docs", {}), ToolSpec("get_weather", SCHEMA)]


def test_arguments_fill_required_properties_with_typed_values() -> None:
    args = arguments_for(SCHEMA, 123)
    assert set(args) == set(SCHEMA["required"])
    assert isinstance(args["name"], str) and args["name"]
    assert args["count"] in (3, 4)
    assert 0 <= args["ratio"] <= 1
    assert isinstance(args["flag"], bool)
    assert len(args["when"]) == 10 and args["when"][4] == "-"
    assert args["mode"] in ("fast", "slow")
    assert isinstance(args["nested"]["inner"], int)
    assert len(args["items"]) == 2 and all(isinstance(i, str) for i in args["items"])
    assert isinstance(args["maybe"], int)
    assert arguments_for(SCHEMA, 123) == args


def test_schema_without_type_is_an_object() -> None:
    assert arguments_for({"properties": {"q": {"type": "string"}}, "required": ["q"]}, 1).keys() == {"q"}
    assert arguments_for({}, 1) == {}


def test_plan_follows_choice_and_mentions() -> None:
    assert plan_tool_call(TOOLS, ToolChoice("auto"), "what's up", 1) is None
    mentioned = plan_tool_call(TOOLS, ToolChoice("auto"), "please get_weather now", 1)
    assert mentioned is not None and mentioned.name == "get_weather"
    assert plan_tool_call(TOOLS, ToolChoice("auto"), None, 1) is None
    assert plan_tool_call(TOOLS, ToolChoice("none"), "get_weather", 1) is None
    named = plan_tool_call(TOOLS, ToolChoice("named", "search_docs"), "get_weather", 1)
    assert named is not None and named.name == "search_docs" and named.arguments == {}
    required = plan_tool_call(TOOLS, ToolChoice("required"), None, 1)
    assert required is not None and required.name in {"search_docs", "get_weather"}
    assert "".join(mentioned.argument_fragments()) == mentioned.arguments_json
