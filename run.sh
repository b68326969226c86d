#!/usr/bin/env bash
# The Robust Speech Challenge recipe, end to end: fine-tune XLS-R 300M on Common Voice, build a 5-gram LM
# into the model folder, evaluate on the test split. Change the variables below for another model/language.
# (Multi-GPU: replace `python` in step 1 with `torchrun --nproc_per_node N` or `accelerate launch`.)
# Step 1 trains multi-condition (noise, babble, rooms, voices, codecs): set AUGMENT=none for the clean recipe.
set -euo pipefail
SCRIPTS="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"   # the scripts beside this file, wherever it runs from

MODEL="${MODEL:-facebook/wav2vec2-xls-r-300m}"
# The Common Voice release folder, downloaded from https://commonvoice.mozilla.org/datasets and extracted: it holds
# ${LANGUAGE}/clips/, ${LANGUAGE}/train.tsv, dev.tsv, test.tsv. (The Hub's mozilla-foundation/common_voice_* ids
# need a loading script, which datasets 4+ cannot run, and were reported gone since late 2025.) Any dataset
# the scripts read works here too: an audio folder, parquet files, a Hub id in a standard format.
DATASET="${DATASET:-./cv-corpus-8.0-2022-01-19}"
LANGUAGE="${LANGUAGE:-sv-SE}"
OUTPUT_DIR="${OUTPUT_DIR:-./wav2vec2-xls-r-300m-${LANGUAGE}}"
LM_TEXT_SPLIT="${LM_TEXT_SPLIT:-train}"   # text for the n-gram: the training transcripts (add --text FILE for more)
EPOCHS="${EPOCHS:-50}"
EXTRA_TRAIN_FLAGS="${EXTRA_TRAIN_FLAGS:-}"  # e.g. "--max_steps 20" for a smoke test
# Multi-condition training, the recommended recipe for real-world recordings (README: "Robust training"): each
# condition with its probability per example, drawn anew every epoch in the dataloader workers. AUGMENT=none
# trains on the clean audio only, as the challenge's original recipe did.
AUGMENT="${AUGMENT:-speed:0.3,pitch:0.2,rir:0.4,babble:0.2,noise:0.5,gain:0.3,clip:0.03,codec:0.15}"
WORKERS="${WORKERS:-4}"   # dataloader processes that degrade the audio while the GPU trains
AUGMENT_FLAGS=()
if [[ "${AUGMENT}" != "none" ]]; then
	AUGMENT_FLAGS=(--augment="${AUGMENT}" --augment_snr_db="0,20" --augment_babble_snr_db="0,20"
		--augment_rt60_s="0.2,1.0" --dataloader_num_workers="${WORKERS}")
fi

# 1. Fine-tune (the guide's flags, unchanged)
python "${SCRIPTS}/run_speech_recognition_ctc.py" \
	--dataset_name="${DATASET}" \
	--model_name_or_path="${MODEL}" \
	--dataset_config_name="${LANGUAGE}" \
	--output_dir="${OUTPUT_DIR}" \
	--num_train_epochs="${EPOCHS}" \
	--per_device_train_batch_size="8" \
	--per_device_eval_batch_size="8" \
	--gradient_accumulation_steps="4" \
	--learning_rate="7.5e-5" \
	--warmup_steps="2000" \
	--length_column_name="input_length" \
	--evaluation_strategy="steps" \
	--text_column_name="sentence" \
	--chars_to_ignore , ? . ! \- \; \: \" “ % ‘ ” � — ’ … – \
	--save_steps="500" \
	--eval_steps="500" \
	--logging_steps="100" \
	--layerdrop="0.0" \
	--activation_dropout="0.1" \
	--save_total_limit="3" \
	--freeze_feature_encoder \
	--feat_proj_dropout="0.0" \
	--mask_time_prob="0.75" \
	--mask_time_length="10" \
	--mask_feature_prob="0.25" \
	--mask_feature_length="64" \
	--gradient_checkpointing \
	--fp16 \
	--group_by_length \
	--do_train --do_eval \
	"${AUGMENT_FLAGS[@]}" \
	${EXTRA_TRAIN_FLAGS}

# 2. A 5-gram language model from the training text, installed into the model folder
python "${SCRIPTS}/build_ngram.py" --model_dir="${OUTPUT_DIR}" --dataset_name="${DATASET}" --dataset_config_name="${LANGUAGE}" \
	--split="${LM_TEXT_SPLIT}" --text_column_name="sentence" --order=5

# 3. Evaluate with the challenge's eval.py, in the model folder (writes <dataset>_<config>_test_eval_results.txt)
EVAL_DATASET="${DATASET}"
[[ -e "${DATASET}" ]] && EVAL_DATASET="$(cd "${DATASET}" && pwd)"   # a local dataset, seen from the model folder
cd "${OUTPUT_DIR}"
python "${SCRIPTS}/eval.py" --model_id="." --dataset="${EVAL_DATASET}" --config="${LANGUAGE}" --split="test" \
	--chunk_length_s=5.0 --stride_length_s=1.0 --log_outputs
