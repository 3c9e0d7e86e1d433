"""People and organisations: who is asking, across every channel (a person, their channel identities, the client
organisation they belong to) and the company directory they come from."""
