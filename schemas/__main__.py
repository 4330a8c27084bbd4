from . import write_json_schemas

for path in write_json_schemas():
    print(f"wrote {path}")
