"""Custom NLU components for the tenant access assistant."""

from __future__ import annotations

from typing import Any, Dict, List, Text

import regex
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.classifiers.logistic_regression_classifier import (
    LogisticRegressionClassifier,
)
from rasa.nlu.tokenizers.tokenizer import Token
from rasa.nlu.tokenizers.whitespace_tokenizer import WhitespaceTokenizer
from rasa.shared.nlu.training_data.message import Message

# One pictographic character, plus what only decorates it: skin tones,
# the emoji variation selector and zero-width joiners.
EMOJI_PATTERN = regex.compile(
    r"\p{Extended_Pictographic}[\U0001F3FB-\U0001F3FF\uFE0F\u200D]*"
)
DECORATION_PATTERN = regex.compile(r"[\U0001F3FB-\U0001F3FF\uFE0F\u200D]")


@DefaultV1Recipe.register(
    DefaultV1Recipe.ComponentType.MESSAGE_TOKENIZER, is_trainable=False
)
class EmojiWhitespaceTokenizer(WhitespaceTokenizer):
    """Whitespace tokenizer that keeps each emoji as a word token.

    Tenants often answer a reminder with a single emoji. The stock tokenizer
    drops emoji that sit next to words ("ok 👍" becomes "ok"), and the word
    featurizer only counts `\\w` characters, so a thumbs up carried no word
    feature at all. Here each emoji becomes a token such as `emoji_1f44d`:
    the same in every language, and skin tones share one token.
    """

    def tokenize(self, message: Message, attribute: Text) -> List[Token]:
        """Tokenize words as WhitespaceTokenizer does, and emoji as tokens."""
        text = message.get(attribute)
        emoji_matches = list(EMOJI_PATTERN.finditer(text))
        if not emoji_matches:
            return super().tokenize(message, attribute)

        # Blank out the emoji without moving any offsets, so the word tokens
        # found in the masked text still point into the original text.
        masked = EMOJI_PATTERN.sub(lambda match: " " * len(match.group()), text)
        word_tokens = []
        if masked.strip():
            masked_message = Message(data={attribute: masked})
            word_tokens = super().tokenize(masked_message, attribute)

        emoji_tokens = [self._emoji_token(match) for match in emoji_matches]
        return sorted(word_tokens + emoji_tokens, key=lambda token: token.start)

    @staticmethod
    def _emoji_token(match: regex.Match) -> Token:
        base = DECORATION_PATTERN.sub("", match.group())
        name = "emoji_" + "_".join(f"{ord(char):x}" for char in base)
        return Token(name, match.start(), end=match.end(), lemma=name)


@DefaultV1Recipe.register(
    DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER, is_trainable=True
)
class FlatPriorLogisticRegressionClassifier(LogisticRegressionClassifier):
    """Logistic regression intent classifier without an intercept.

    With an intercept the model learns a prior that favours intents with
    short examples: a message with no known features (keyboard mashing, a
    language we have no data for) came out as a confident "affirm". Without
    it, such a message gets equal odds for every intent and falls below the
    FallbackClassifier threshold. `C` is exposed because the stock component
    fixes it at 1.0, which left one-letter replies like "ya" under threshold.
    """

    @staticmethod
    def get_default_config() -> Dict[Text, Any]:
        """Stock defaults plus regularisation strength `C`."""
        return {
            **LogisticRegressionClassifier.get_default_config(),
            "C": 10.0,
            "max_iter": 1000,
        }

    def __init__(
        self,
        config: Dict[Text, Any],
        name: Text,
        model_storage: ModelStorage,
        resource: Resource,
    ) -> None:
        """Build the stock classifier, then drop its intercept."""
        super().__init__(config, name, model_storage, resource)
        self.clf.set_params(C=self.config["C"], fit_intercept=False)
