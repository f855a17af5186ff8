"""funcnet.pipeline: parse_value and apply_overrides on a small Config."""

from typing import Literal, Optional

import attrs
import pytest

from funcnet.errors import ConfigError
from funcnet.pipeline import apply_overrides, fields, parse_value, to_json


def _positive(instance, attribute, value):
    if value <= 0:
        raise ValueError(f"{attribute.name} must be positive, got {value}")


@attrs.frozen
class Config:
    seed: int | None = attrs.field(default=None, metadata={"help": "random seed"})
    learning_rate: float = attrs.field(default=0.1, metadata={"help": "α"})
    epochs: int = attrs.field(default=3, validator=_positive)
    sizes: tuple[int, ...] = attrs.field(default=(784, 10, 10), converter=tuple)
    optimizer: Literal["sgd", "adam"] = "sgd"
    shuffle: bool = True
    name: str = "run"
    dropout: Optional[float] = None


# --- parse_value --------------------------------------------------------------------

@pytest.mark.parametrize("tp, text, expected", [
    (int, "7", 7), (int, "-3", -3), (int, " 12 ", 12),
    (float, "0.5", 0.5), (float, "1e-3", 1e-3), (float, "2", 2.0),
    (str, "hello", "hello"), (str, "", ""),
    (bool, "true", True), (bool, "True", True), (bool, "1", True), (bool, "yes", True),
    (bool, "on", True), (bool, "false", False), (bool, "0", False), (bool, "No", False),
    (tuple[int, ...], "784,128,10", (784, 128, 10)),
    (tuple[int, ...], "(784, 64, 10)", (784, 64, 10)),
    (tuple[int, ...], "[5]", (5,)),
    (tuple[float, ...], "0.1,0.2", (0.1, 0.2)),
    (int | None, "none", None), (int | None, "null", None), (int | None, "", None),
    (int | None, "4", 4), (Optional[float], "None", None), (Optional[float], "0.25", 0.25),
    (Literal["sgd", "adam"], "adam", "adam"),
])
def test_parse_value_converts_to_the_type(tp, text, expected):
    value = parse_value(tp, text)
    assert value == expected and type(value) is type(expected)


@pytest.mark.parametrize("tp, text, message", [
    (int, "abc", "invalid literal"), (int, "1.5", "invalid literal"),
    (float, "fast", "could not convert"), (bool, "maybe", "expected true or false"),
    (Literal["sgd", "adam"], "rmsprop", "expected one of sgd, adam"),
    (tuple[int, ...], "784,x,10", "invalid literal"),
    (int | None, "seven", "invalid literal"),
])
def test_parse_value_refuses_bad_text(tp, text, message):
    with pytest.raises(ValueError, match=message):
        parse_value(tp, text)


# --- apply_overrides --------------------------------------------------------------------

def test_fields_lists_names_types_defaults_and_help():
    table = {name: (tp, default, help_) for name, tp, default, help_ in fields(Config)}
    assert list(table) == ["seed", "learning_rate", "epochs", "sizes", "optimizer", "shuffle",
                           "name", "dropout"]
    assert table["learning_rate"] == (float, 0.1, "α")
    assert table["epochs"][2] == ""


def test_apply_overrides_types_every_value_and_returns_a_new_config():
    base = Config()
    new = apply_overrides(base, ["learning_rate=0.01", "epochs=5", "sizes=784,32,10",
                                 "optimizer=adam", "shuffle=false", "seed=7", "name=a=b",
                                 "dropout=0.5"])
    assert new == Config(seed=7, learning_rate=0.01, epochs=5, sizes=(784, 32, 10),
                         optimizer="adam", shuffle=False, name="a=b", dropout=0.5)
    assert base == Config()
    assert apply_overrides(new, ["seed=none"]).seed is None
    assert apply_overrides(base, []) == base
    assert apply_overrides(base, [" epochs =9"]).epochs == 9


def test_later_overrides_win():
    assert apply_overrides(Config(), ["epochs=2", "epochs=4"]).epochs == 4


def test_unknown_key_names_the_nearest_valid_key():
    with pytest.raises(ConfigError, match=r"--set learning_rte: unknown config key "
                                          r"\(did you mean learning_rate\?\)") as err:
        apply_overrides(Config(), ["learning_rte=0.1"])
    assert "valid keys: seed, learning_rate, epochs, sizes" in str(err.value)
    with pytest.raises(ConfigError, match=r"did you mean epochs\?"):
        apply_overrides(Config(), ["epoch=3"])


def test_unknown_key_with_nothing_near_lists_the_valid_keys():
    with pytest.raises(ConfigError, match=r"--set zzz: unknown config key; valid keys: seed,"):
        apply_overrides(Config(), ["zzz=1"])


@pytest.mark.parametrize("item, expected", [
    ("epochs=many", r"--set epochs=many: expected int: "),
    ("learning_rate=fast", r"--set learning_rate=fast: expected float: "),
    ("shuffle=maybe", r"--set shuffle=maybe: expected bool: expected true or false"),
    ("optimizer=rmsprop", r"--set optimizer=rmsprop: expected Literal\['sgd', 'adam'\]: "
                          r"expected one of sgd, adam"),
    ("sizes=784,x", r"--set sizes=784,x: expected tuple\[int, \.\.\.\]"),
    ("seed=abc", r"--set seed=abc: expected int \| None"),
])
def test_bad_value_names_the_expected_type(item, expected):
    with pytest.raises(ConfigError, match=expected):
        apply_overrides(Config(), [item])


def test_missing_equals_sign_is_refused():
    with pytest.raises(ConfigError, match=r"--set 'epochs': expected key=value"):
        apply_overrides(Config(), ["epochs"])


def test_validator_failures_become_config_errors():
    with pytest.raises(ConfigError, match="epochs must be positive, got 0"):
        apply_overrides(Config(), ["epochs=0"])


def test_config_errors_are_value_errors_with_exit_code_2():
    with pytest.raises(ValueError):
        apply_overrides(Config(), ["nope=1"])
    assert ConfigError.exit_code == 2


def test_to_json_turns_tuples_into_lists():
    assert to_json(Config(sizes=(3, 2)))["sizes"] == [3, 2]
    assert to_json(Config())["learning_rate"] == 0.1


def test_every_pipelines_config_keeps_the_validators_and_help_of_its_base():
    """A pipeline that changes a default keeps the field's validator and help text."""
    import attrs

    from funcnet import classify, pipeline
    from tests_support_paths import PIPELINES
    for path in PIPELINES:
        module = pipeline.load_pipeline(path)
        config, redefined = module.Config, set(getattr(module, "REDEFINED", ()))
        for base in (classify.MLPConfig, classify.CNNConfig, classify.TrainConfig):
            if not issubclass(config, base):
                continue
            own, theirs = attrs.fields_dict(config), attrs.fields_dict(base)
            for name, field in theirs.items():
                if name in ("data",) or name in redefined:  # its help names the pipeline's own
                    continue                                   # data set; a field it gives a new meaning
                assert own[name].validator is field.validator, (path.name, name)
                assert own[name].metadata.get("help") == field.metadata.get("help"), (path.name, name)
            break


def test_a_bad_padding_in_the_fashion_cnn_pipeline_is_exit_2():
    from tests.cli.cli_helpers import REPO, invoke
    result = invoke("run", REPO / "pipelines" / "fashion_cnn.py", "--set", "padding=foo")
    assert result.exit_code == 2 and "padding: unknown 'foo'; expected one of valid, same" in result.stderr
