"""Custom NLU components for the tenant access assistant."""

from __future__ import annotations

from typing import Any

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
from scipy.sparse import csr_matrix
from sklearn.preprocessing import normalize

# One pictographic character, plus what only decorates it: skin tones,
# the emoji variation selector and zero-width joiners.
EMOJI_PATTERN = regex.compile(r"\p{Extended_Pictographic}[\U0001F3FB-\U0001F3FF\uFE0F\u200D]*")
DECORATION_PATTERN = regex.compile(r"[\U0001F3FB-\U0001F3FF\uFE0F\u200D]")
HAN_PATTERN = regex.compile(r"\p{Han}")
# One Han character, or a run of other letters or digits inside the same token (punctuation dropped).
HAN_RUN_PATTERN = regex.compile(r"\p{Han}|[^\p{Han}\p{P}\s]+")


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.MESSAGE_TOKENIZER, is_trainable=False)
class EmojiWhitespaceTokenizer(WhitespaceTokenizer):
    """Whitespace tokenizer that keeps each emoji as a word token.

    Tenants often answer a reminder with a single emoji. The stock tokenizer
    drops emoji that sit next to words ("ok 👍" becomes "ok"), and the word
    featurizer only counts `\\w` characters, so a thumbs up carried no word
    feature at all. Here each emoji becomes a token such as `emoji_1f44d`:
    the same in every language, and skin tones share one token.
    """

    def tokenize(self, message: Message, attribute: str) -> list[Token]:
        """Tokenize words as WhitespaceTokenizer does, emoji as tokens, Chinese by character."""
        return [piece for token in self._words_and_emoji(message, attribute) for piece in _split_han(token)]

    def _words_and_emoji(self, message: Message, attribute: str) -> list[Token]:
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


def _split_han(token: Token) -> list[Token]:
    """Chinese is written without spaces, so one "word" can be a whole sentence.

    Each Han character becomes its own token (the word featurizer's bigrams then
    see character pairs, much like Chinese words); other text is left as it was.
    """
    if not HAN_PATTERN.search(token.text):
        return [token]
    pieces = []
    for match in HAN_RUN_PATTERN.finditer(token.text):
        start = token.start + match.start()
        pieces.append(Token(match.group(), start, end=start + len(match.group()), lemma=match.group()))
    return pieces


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER, is_trainable=True)
class NormalisedLogisticRegressionClassifier(LogisticRegressionClassifier):
    """Logistic regression on length-normalised features, with no intercept.

    Two changes to the stock component, both so that text unlike anything
    in the training data falls below the FallbackClassifier threshold
    instead of being read as a confident "yes":

    - No intercept. The stock model learns a prior towards intents with
      short examples, so keyboard mashing came out as "affirm". Without it,
      a message with no known features gets equal odds for every intent.
    - Each feature row is scaled to unit length. With raw counts a long
      message collects many common character n-grams, which pushed long
      off-topic requests towards "affirm" too.

    `C` is exposed because the stock component fixes it at 1.0, which is
    far too strong a penalty once features are normalised.
    """

    @staticmethod
    def get_default_config() -> dict[str, Any]:
        """Stock defaults plus the inverse regularisation strength `C`."""
        return {
            **LogisticRegressionClassifier.get_default_config(),
            "C": 100.0,
            "max_iter": 1000,
        }

    def __init__(
        self,
        config: dict[str, Any],
        name: str,
        model_storage: ModelStorage,
        resource: Resource,
    ) -> None:
        """Build the stock classifier, then set `C` and drop its intercept."""
        super().__init__(config, name, model_storage, resource)
        self.clf.set_params(C=self.config["C"], fit_intercept=False)

    def _create_X(self, messages: list[Message]) -> csr_matrix:
        # Used for both training and prediction, so both see the same scale.
        return normalize(super()._create_X(messages))
