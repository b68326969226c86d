"""The names of the files in a model folder, defined once for every layer that reads or writes them.

    DIR/config.json, model.safetensors   the acoustic model (transformers)
    DIR/vocab.json + tokenizer files     the CTC vocabulary
    DIR/processor_config.json            the feature extractor (preprocessor_config.json before transformers 5)
    DIR/text_normalizer.json             how training normalized text (the LM and eval.py apply the same rules)
    DIR/alphabet.json                    the CTC labels in id order, for pyctcdecode
    DIR/language_model/                  KenLM binary, unigrams.txt, attrs.json (pyctcdecode's layout)
    DIR/flashlight_lm.bin                the same LM with <unk> carrying pyctcdecode's unknown-word offset
    DIR/decoding.json                    the beam width (and the data) tune-lm chose
    DIR/checksums.json                   size and SHA-256 of the LM's binaries and unigrams, to tell a damaged copy
    DIR/training_text.json.gz            what training and the LM read: word counts, sentence fingerprints, languages
    DIR/adapter.<lang>.safetensors       MMS-style attention adapter and CTC head of one language (--adapter_attn_dim)
"""

VOCAB_FILE = "vocab.json"
NORMALIZER_FILE = "text_normalizer.json"
ALPHABET_FILE = "alphabet.json"
LM_DIRECTORY = "language_model"
ATTRS_FILE = "attrs.json"
UNIGRAMS_FILE = "unigrams.txt"
FLASHLIGHT_BINARY = "flashlight_lm.bin"
DECODING_FILE = "decoding.json"
CHECKSUMS_FILE = "checksums.json"
RUN_SCRIPT = "run.sh"
MODEL_CARD = "README.md"
TRAINING_TEXT_FILE = "training_text.json.gz"
EVAL_SCRIPT = "eval.py"
# transformers' own name (Wav2Vec2ForCTC.load_adapter reads it): `from_pretrained(folder, target_lang=lang)`.
ADAPTER_FILE = "adapter.{}.safetensors"

# A local model folder needs the feature extractor's settings and the tokenizer's vocabulary beside the weights
# (transformers 5 keeps the former in processor_config.json, earlier versions in preprocessor_config.json).
PROCESSOR_FILES = (("processor_config.json", "preprocessor_config.json"), (VOCAB_FILE,))
